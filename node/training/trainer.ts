// One site's training engine: its partition of a MedMNIST dataset, the CNN, local training, evaluation.
import * as tf from '@tensorflow/tfjs';
import type { EvalResult, LocalTrainResult, Trainer } from '../types.ts';
import { initBackend, type BackendPreference } from './backend.ts';
import { loadMedMnist, type MedMnistData, type Split } from './dataset.ts';
import { evaluateScores } from './metrics.ts';
import { createModel, exportLayersModel, flattenWeights, parameterCount, setFlatWeights, weightShapes } from './model.ts';
import { PARTITION_SEED, partitionClasses, partitionIndices, seededRandom, shuffleInPlace, type SplitScheme } from './partition.ts';

export interface TrainingPlan {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd';
}

export interface TrainerOptions {
  dataPath: string;
  data?: MedMnistData;
  sites?: number;
  site?: number;
  scheme?: SplitScheme;
  seed: number;
  plan: TrainingPlan;
  maxTrainSamples?: number;
  maxEvalSamples?: number;
  backend?: BackendPreference;
}

function subset(split: Split, cols: number, indices: number[]): Split {
  const images = new Uint8Array(indices.length * 784);
  const labels = new Uint8Array(indices.length * cols);
  indices.forEach((src, i) => {
    images.set(split.images.subarray(src * 784, src * 784 + 784), i * 784);
    labels.set(split.labels.subarray(src * cols, src * cols + cols), i * cols);
  });
  return { images, labels, n: indices.length };
}

export class TfjsTrainer implements Trainer {
  readonly dataset: string;
  readonly task: MedMnistData['task'];
  readonly parameterCount: number;
  readonly trainSamples: number;
  private readonly model: tf.LayersModel;

  constructor(
    readonly backend: string,
    private readonly data: MedMnistData,
    private readonly train: Split,
    private readonly evalSets: { val: Split; test: Split },
    private readonly plan: TrainingPlan,
    seed: number,
  ) {
    this.dataset = data.name;
    this.task = data.task;
    this.model = createModel(data.task, data.outputs, seed);
    this.parameterCount = parameterCount(this.model);
    this.trainSamples = train.n;
  }

  getWeights(): Float32Array {
    return flattenWeights(this.model);
  }

  setWeights(flat: Float32Array): void {
    setFlatWeights(this.model, flat);
  }

  weightShapes(): { name: string; shape: number[] }[] {
    return weightShapes(this.model);
  }

  private batch(split: Split, idx: number[]): { x: tf.Tensor4D; y: tf.Tensor2D } {
    const cols = this.data.labelColumns;
    const x = new Float32Array(idx.length * 784);
    const y = new Float32Array(idx.length * this.data.outputs);
    idx.forEach((s, i) => {
      for (let p = 0; p < 784; p++) x[i * 784 + p] = split.images[s * 784 + p]! / 255;
      if (this.task === 'multi-class') y[i * this.data.outputs + split.labels[s]!] = 1;
      else for (let k = 0; k < cols; k++) y[i * this.data.outputs + k] = split.labels[s * cols + k]!;
    });
    return { x: tf.tensor4d(x, [idx.length, 28, 28, 1]), y: tf.tensor2d(y, [idx.length, this.data.outputs]) };
  }

  private lossOf(y: tf.Tensor, p: tf.Tensor): tf.Scalar {
    // Keras-style cross-entropy on probabilities (clipped by epsilon inside tfjs).
    return (this.task === 'multi-class' ? tf.metrics.categoricalCrossentropy(y, p) : tf.metrics.binaryCrossentropy(y, p)).mean() as tf.Scalar;
  }

  async trainLocal(opts: { seed: number; keep?: boolean; onProgress?: (done: number, total: number) => void }): Promise<LocalTrainResult> {
    const start = this.getWeights();
    const t0 = performance.now();
    const rnd = seededRandom(opts.seed);
    const optimizer = this.plan.optimizer === 'sgd' ? tf.train.sgd(this.plan.learningRate) : tf.train.adam(this.plan.learningRate);
    const total = this.plan.epochs * this.train.n;
    let done = 0;
    let lossSum = 0;
    let batches = 0;
    for (let e = 0; e < this.plan.epochs; e++) {
      const order = shuffleInPlace(Array.from({ length: this.train.n }, (_, i) => i), rnd);
      for (let b = 0; b < order.length; b += this.plan.batchSize) {
        const idx = order.slice(b, b + this.plan.batchSize);
        const { x, y } = this.batch(this.train, idx);
        const loss = optimizer.minimize(() => this.lossOf(y, this.model.apply(x, { training: true }) as tf.Tensor), true) as tf.Scalar;
        lossSum += (await loss.data())[0]!;
        batches++;
        tf.dispose([x, y, loss]);
        done += idx.length;
        opts.onProgress?.(done, total);
        // wasm kernels run synchronously and data() resolves as a microtask: yield to the event
        // loop so that timers and network I/O (heartbeats, gossip) keep flowing during training.
        await new Promise((r) => setImmediate(r));
      }
    }
    optimizer.dispose();
    const end = this.getWeights();
    const delta = new Float32Array(end.length);
    for (let i = 0; i < end.length; i++) delta[i] = end[i]! - start[i]!;
    if (!opts.keep) this.setWeights(start);
    return { delta, samples: this.train.n, seconds: (performance.now() - t0) / 1000, loss: lossSum / Math.max(1, batches) };
  }

  async predictScores(split: Split): Promise<Float32Array> {
    const out = new Float32Array(split.n * this.data.outputs);
    for (let b = 0; b < split.n; b += 512) {
      const idx = Array.from({ length: Math.min(512, split.n - b) }, (_, i) => b + i);
      const { x, y } = this.batch(split, idx);
      const p = this.model.predict(x) as tf.Tensor;
      out.set(await p.data(), b * this.data.outputs);
      tf.dispose([x, y, p]);
    }
    return out;
  }

  async evaluate(which: 'val' | 'test'): Promise<EvalResult> {
    const split = this.evalSets[which];
    const scores = await this.predictScores(split);
    const { auc, acc } = evaluateScores(this.task, split.labels, scores, this.data.outputs);
    let loss = 0;
    const eps = 1e-7;
    if (this.task === 'multi-class') {
      for (let i = 0; i < split.n; i++) loss -= Math.log(Math.max(eps, scores[i * this.data.outputs + split.labels[i]!]!));
      loss /= split.n;
    } else {
      for (let i = 0; i < scores.length; i++) {
        const p = Math.min(1 - eps, Math.max(eps, scores[i]!));
        loss -= split.labels[i] ? Math.log(p) : Math.log(1 - p);
      }
      loss /= scores.length;
    }
    return { auc, acc, loss };
  }

  exportModel(): Promise<{ modelJson: string; weights: Uint8Array }> {
    return exportLayersModel(this.model);
  }

  dispose(): void {
    this.model.dispose();
  }
}

export async function createTrainer(opts: TrainerOptions): Promise<TfjsTrainer> {
  const backend = await initBackend(opts.backend);
  const data = opts.data ?? (await loadMedMnist(opts.dataPath));
  const sites = opts.sites ?? 1;
  const site = opts.site ?? 0;
  if (!Number.isInteger(site) || site < 0 || site >= sites) throw new Error(`site index ${site} is outside 0..${sites - 1}`);
  const classes = partitionClasses(data.train.labels, data.labelColumns, data.task === 'multi-label');
  // The partition seed is fixed so every site computes the same split; `seed` drives the model.
  let mine = partitionIndices(classes, { sites, scheme: opts.scheme ?? { kind: 'iid' }, seed: PARTITION_SEED })[site]!;
  if (opts.maxTrainSamples !== undefined) mine = mine.slice(0, opts.maxTrainSamples);
  const train = subset(data.train, data.labelColumns, mine);
  const cap = (s: Split) => (opts.maxEvalSamples !== undefined && opts.maxEvalSamples < s.n ? subset(s, data.labelColumns, Array.from({ length: opts.maxEvalSamples }, (_, i) => i)) : s);
  return new TfjsTrainer(backend, data, train, { val: cap(data.val), test: cap(data.test) }, opts.plan, opts.seed);
}
