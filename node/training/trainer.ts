// One site's training engine: its partition of a MedMNIST dataset, the CNN, local training, evaluation.
import * as tf from '@tensorflow/tfjs';
import type { EvalResult, LocalTrainResult, Trainer } from '../types.ts';
import { initBackend, type BackendPreference } from './backend.ts';
import { loadMedMnist, type MedMnistData, type Split } from './dataset.ts';
import { augmentBatch } from './augment.ts';
import { evaluateScores, youdenThreshold } from './metrics.ts';
import { createModel, exportLayersModel, type Architecture, flattenWeights, parameterCount, setFlatWeights, weightShapes } from './model.ts';
import { PARTITION_SEED, partitionClasses, partitionIndices, partitionLike, seededRandom, shuffleInPlace, type SplitScheme } from './partition.ts';

export interface TrainingPlan {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd';
  /** Decoupled weight decay on kernels, AdamW style: w ← w·(1 − lr·weightDecay) after each step. */
  weightDecay?: number;
  /** Dropout rates applied in training after the flatten and the hidden dense layer. */
  dropout?: [number, number];
  /** Chest-radiograph batch augmentation (augment.ts); true by default. */
  augment?: boolean;
  /** Binary task: weigh each class by n / (2·n_class) of this site's training split. */
  classBalanced?: boolean;
  arch?: Architecture;
}

export const DEFAULT_REGULARIZATION = { weightDecay: 0.01, dropout: [0.25, 0.25] as [number, number], augment: true, classBalanced: true };

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

export interface EpochInfo {
  epoch: number;
  loss: number;
  valAuc: number;
  valAcc: number;
  samplesPerS: number;
}

export interface FitResult {
  history: EpochInfo[];
  /** 1-based epoch with the best validation AUC; its weights are the trainer's weights after fit. */
  bestEpoch: number;
  bestValAuc: number;
  /** Youden's-J threshold on the validation split at the best epoch (binary tasks; else 0.5). */
  threshold: number;
  samplesPerS: number;
  seconds: number;
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
  private readonly reg: typeof DEFAULT_REGULARIZATION;
  /** Binary task: loss weights of the negative and the positive class. */
  private readonly classWeights: [number, number];

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
    this.model = createModel(data.task, data.outputs, seed, plan.arch);
    this.parameterCount = parameterCount(this.model);
    this.trainSamples = train.n;
    this.reg = { ...DEFAULT_REGULARIZATION, ...Object.fromEntries(Object.entries({ weightDecay: plan.weightDecay, dropout: plan.dropout, augment: plan.augment, classBalanced: plan.classBalanced }).filter(([, v]) => v !== undefined)) };
    let pos = 0;
    if (this.task === 'binary') for (let i = 0; i < train.n; i++) pos += train.labels[i]!;
    const neg = train.n - pos;
    this.classWeights = this.task === 'binary' && this.reg.classBalanced && pos > 0 && neg > 0 ? [train.n / (2 * neg), train.n / (2 * pos)] : [1, 1];
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

  private batch(split: Split, idx: number[], rnd?: () => number): { x: tf.Tensor4D; y: tf.Tensor2D } {
    const cols = this.data.labelColumns;
    const x = new Float32Array(idx.length * 784);
    const y = new Float32Array(idx.length * this.data.outputs);
    idx.forEach((s, i) => {
      for (let p = 0; p < 784; p++) x[i * 784 + p] = split.images[s * 784 + p]! / 255;
      if (this.task === 'multi-class') y[i * this.data.outputs + split.labels[s]!] = 1;
      else for (let k = 0; k < cols; k++) y[i * this.data.outputs + k] = split.labels[s * cols + k]!;
    });
    if (rnd) augmentBatch(x, idx.length, rnd);
    return { x: tf.tensor4d(x, [idx.length, 28, 28, 1]), y: tf.tensor2d(y, [idx.length, this.data.outputs]) };
  }

  private lossOf(y: tf.Tensor, p: tf.Tensor): tf.Scalar {
    if (this.task === 'binary' && (this.classWeights[0] !== 1 || this.classWeights[1] !== 1)) {
      // class-weighted binary cross-entropy on probabilities, clipped like Keras's
      const [wn, wp] = this.classWeights;
      const q = p.clipByValue(1e-7, 1 - 1e-7);
      return tf.neg(tf.add(y.mul(q.log()).mul(wp), tf.sub(1, y).mul(tf.sub(1, q).log()).mul(wn))).mean() as tf.Scalar;
    }
    // Keras-style cross-entropy on probabilities (clipped by epsilon inside tfjs).
    return (this.task === 'multi-class' ? tf.metrics.categoricalCrossentropy(y, p) : tf.metrics.binaryCrossentropy(y, p)).mean() as tf.Scalar;
  }

  /** Forward pass in training mode with seeded inverted-dropout masks after flatten and dense1. */
  private forwardTrain(x: tf.Tensor, masks: Map<string, tf.Tensor>): tf.Tensor {
    let h = x;
    for (const layer of this.model.layers) {
      h = layer.apply(h, { training: true }) as tf.Tensor;
      const m = masks.get(layer.name);
      if (m) h = h.mul(m);
    }
    return h;
  }

  private dropoutMasks(n: number, rnd: () => number): Map<string, tf.Tensor> {
    const masks = new Map<string, tf.Tensor>();
    const layers = ['flatten', 'dense1'];
    this.reg.dropout.forEach((rate, i) => {
      if (rate <= 0) return;
      const layer = this.model.getLayer(layers[i]!);
      const width = (layer.outputShape as number[])[1]!;
      const m = new Float32Array(n * width);
      const keep = 1 / (1 - rate);
      for (let j = 0; j < m.length; j++) m[j] = rnd() < rate ? 0 : keep;
      masks.set(layer.name, tf.tensor2d(m, [n, width]));
    });
    return masks;
  }

  private makeOptimizer(): tf.Optimizer {
    return this.plan.optimizer === 'sgd' ? tf.train.sgd(this.plan.learningRate) : tf.train.adam(this.plan.learningRate);
  }

  /** One pass over the training split with `optimizer`; lrAt(step) sets the step's learning rate. */
  private async epoch(optimizer: tf.Optimizer, rnd: () => number, lrAt: (step: number) => number, step0: number, onBatch: (n: number) => void): Promise<{ loss: number; steps: number }> {
    const order = shuffleInPlace(Array.from({ length: this.train.n }, (_, i) => i), rnd);
    // originalName: tfjs suffixes `name` with _1, _2 … for every further model in the process
    const kernels = this.model.trainableWeights.filter((w) => w.originalName.endsWith('/kernel'));
    let lossSum = 0;
    let steps = 0;
    for (let b = 0; b < order.length; b += this.plan.batchSize) {
      const idx = order.slice(b, b + this.plan.batchSize);
      const { x, y } = this.batch(this.train, idx, this.reg.augment ? rnd : undefined);
      const masks = this.dropoutMasks(idx.length, rnd);
      const lr = lrAt(step0 + steps);
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const loss = optimizer.minimize(() => this.lossOf(y, this.forwardTrain(x, masks)), true) as tf.Scalar;
      if (this.reg.weightDecay > 0) {
        const f = 1 - lr * this.reg.weightDecay;
        tf.tidy(() => kernels.forEach((w) => w.write(w.read().mul(f))));
      }
      lossSum += (await loss.data())[0]!;
      steps++;
      tf.dispose([x, y, loss, ...masks.values()]);
      onBatch(idx.length);
      // wasm kernels run synchronously and data() resolves as a microtask: yield to the event
      // loop so that timers and network I/O (heartbeats, gossip) keep flowing during training.
      await new Promise((r) => setImmediate(r));
    }
    return { loss: lossSum / Math.max(1, steps), steps };
  }

  async trainLocal(opts: { seed: number; keep?: boolean; onProgress?: (done: number, total: number) => void }): Promise<LocalTrainResult> {
    const start = this.getWeights();
    const t0 = performance.now();
    const rnd = seededRandom(opts.seed);
    const optimizer = this.makeOptimizer();
    const total = this.plan.epochs * this.train.n;
    let done = 0;
    let lossSum = 0;
    for (let e = 0; e < this.plan.epochs; e++) {
      const r = await this.epoch(optimizer, rnd, () => this.plan.learningRate, 0, (n) => opts.onProgress?.((done += n), total));
      lossSum += r.loss;
    }
    optimizer.dispose();
    const end = this.getWeights();
    const delta = new Float32Array(end.length);
    for (let i = 0; i < end.length; i++) delta[i] = end[i]! - start[i]!;
    if (!opts.keep) this.setWeights(start);
    return { delta, samples: this.train.n, seconds: (performance.now() - t0) / 1000, loss: lossSum / Math.max(1, this.plan.epochs) };
  }

  /**
   * Centralized training: `epochs` passes with one optimizer and a cosine learning-rate decay
   * (to 5 % of the plan's rate, after a linear warm-up of one epoch or a fifth of the steps), the validation AUC after every
   * epoch, and the weights of the epoch with the best validation AUC kept at the end.
   */
  async fit(opts: { epochs: number; seed: number; onEpoch?: (info: EpochInfo) => void; onProgress?: (done: number, total: number) => void }): Promise<FitResult> {
    const rnd = seededRandom(opts.seed);
    const optimizer = this.makeOptimizer();
    const perEpoch = Math.ceil(this.train.n / this.plan.batchSize);
    const total = opts.epochs * perEpoch;
    const warm = Math.max(1, Math.min(perEpoch, Math.floor(total / 5)));
    const lr0 = this.plan.learningRate;
    const lrAt = (s: number) => (s < warm ? (lr0 * (s + 1)) / warm : lr0 * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * (s - warm)) / Math.max(1, total - warm)))));
    const history: EpochInfo[] = [];
    let best = { epoch: 0, auc: -Infinity, weights: this.getWeights() };
    let seconds = 0;
    let step = 0;
    for (let e = 0; e < opts.epochs; e++) {
      const t0 = performance.now();
      let done = 0;
      const r = await this.epoch(optimizer, rnd, lrAt, step, (n) => opts.onProgress?.((done += n), this.train.n));
      const s = (performance.now() - t0) / 1000;
      seconds += s;
      step += r.steps;
      const val = await this.evaluate('val');
      const info = { epoch: e + 1, loss: r.loss, valAuc: val.auc, valAcc: val.acc, samplesPerS: this.train.n / s };
      history.push(info);
      opts.onEpoch?.(info);
      if (val.auc > best.auc) best = { epoch: e + 1, auc: val.auc, weights: this.getWeights() };
    }
    optimizer.dispose();
    this.setWeights(best.weights);
    const threshold = this.task === 'binary' ? youdenThreshold(this.evalSets.val.labels, await this.predictScores(this.evalSets.val)) : 0.5;
    return { history, bestEpoch: best.epoch, bestValAuc: best.auc, threshold, samplesPerS: (opts.epochs * this.train.n) / seconds, seconds };
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

  /** AUC, ACC (scores above `threshold` count as positive; 0.5 unless given) and loss on a split. */
  async evaluate(which: 'val' | 'test', threshold = 0.5): Promise<EvalResult> {
    const split = this.evalSets[which];
    const scores = await this.predictScores(split);
    const { auc, acc } = evaluateScores(this.task, split.labels, scores, this.data.outputs, threshold);
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
  const parts = partitionIndices(classes, { sites, scheme: opts.scheme ?? { kind: 'iid' }, seed: PARTITION_SEED });
  let mine = parts[site]!;
  if (opts.maxTrainSamples !== undefined) mine = mine.slice(0, opts.maxTrainSamples);
  const train = subset(data.train, data.labelColumns, mine);
  // Each site validates on its own share of the validation split, with its training label mix
  // (model selection in a federation uses the sites' validation AUCs); the test split is whole.
  let val = data.val;
  if (sites > 1) {
    const valClasses = partitionClasses(data.val.labels, data.labelColumns, data.task === 'multi-label');
    const myVal = partitionLike(classes, parts, valClasses, 20260102)[site]!;
    if (myVal.length > 0) val = subset(data.val, data.labelColumns, myVal);
  }
  const cap = (s: Split) => (opts.maxEvalSamples !== undefined && opts.maxEvalSamples < s.n ? subset(s, data.labelColumns, Array.from({ length: opts.maxEvalSamples }, (_, i) => i)) : s);
  return new TfjsTrainer(backend, data, train, { val: cap(val), test: cap(data.test) }, opts.plan, opts.seed);
}
