// The CNN and its weights as one flat Float32Array.
//
// Architecture (28x28x1 input), DEFAULT_ARCH: [Conv 3x3 same + ReLU → MaxPool 2] per entry of
// `convs` → Flatten → Dense `dense` + ReLU → Dense L (sigmoid for binary/multi-label, softmax for
// multi-class). No normalization layer: BatchNorm's running statistics are per-site data that
// federated averaging mixes badly under label skew, and at this depth the network trains well
// without one. Dropout is not a layer here: the trainer applies seeded dropout masks between the
// layers during training (tfjs's dropout layer draws from Math.random or repeats one mask),
// so the exported model is the plain inference graph.
//
// Flat order: model.getWeights() order (per layer: kernel then bias), each tensor row-major
// (tfjs layout: conv kernels [kh, kw, in, out], dense kernels [in, out]).
import * as tf from '@tensorflow/tfjs';
import type { Task } from './registry.ts';

export interface Architecture {
  /** Filters of each conv block (3x3 conv + ReLU + 2x2 max-pool). */
  convs: number[];
  /** Units of the hidden dense layer. */
  dense: number;
}

export const DEFAULT_ARCH: Architecture = { convs: [16, 32], dense: 32 };

export function createModel(task: Task, outputs: number, seed: number, arch: Architecture = DEFAULT_ARCH): tf.LayersModel {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed * 100 + k });
  const model = tf.sequential();
  arch.convs.forEach((filters, i) => {
    model.add(tf.layers.conv2d({ ...(i === 0 ? { inputShape: [28, 28, 1] } : {}), filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(i + 1), name: `conv${i + 1}` }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2, name: `pool${i + 1}` }));
  });
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: arch.dense, activation: 'relu', kernelInitializer: init(arch.convs.length + 1), name: 'dense1' }));
  model.add(tf.layers.dense({ units: outputs, activation: task === 'multi-class' ? 'softmax' : 'sigmoid', kernelInitializer: init(arch.convs.length + 2), name: 'out' }));
  return model;
}

export function weightShapes(model: tf.LayersModel): { name: string; shape: number[] }[] {
  return model.weights.map((w) => ({ name: w.name, shape: [...w.shape] as number[] }));
}

export function parameterCount(model: tf.LayersModel): number {
  return model.weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

export function flattenWeights(model: tf.LayersModel): Float32Array {
  const ws = model.getWeights();
  const out = new Float32Array(parameterCount(model));
  let o = 0;
  for (const w of ws) {
    const d = w.dataSync() as Float32Array;
    out.set(d, o);
    o += d.length;
  }
  return out;
}

export function setFlatWeights(model: tf.LayersModel, flat: Float32Array): void {
  const n = parameterCount(model);
  if (flat.length !== n) throw new Error(`expected ${n} weights, got ${flat.length}`);
  let o = 0;
  const tensors = model.weights.map((w) => {
    const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const t = tf.tensor(flat.subarray(o, o + size), w.shape as number[], 'float32');
    o += size;
    return t;
  });
  model.setWeights(tensors);
  tensors.forEach((t) => t.dispose());
}

/** The model in the tfjs layers format: model.json text (one weights.bin) and the weights bytes. */
export async function exportLayersModel(model: tf.LayersModel): Promise<{ modelJson: string; weights: Uint8Array }> {
  let result: { modelJson: string; weights: Uint8Array } | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const modelJson = JSON.stringify({
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      });
      result = { modelJson, weights: new Uint8Array(artifacts.weightData as ArrayBuffer) };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return result!;
}

/** Loads a model saved in the tfjs layers format from model.json text and weights bytes. */
export async function importLayersModel(modelJson: string, weights: Uint8Array): Promise<tf.LayersModel> {
  const parsed = JSON.parse(modelJson);
  const buf = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: parsed.modelTopology, weightSpecs: parsed.weightsManifest[0].weights, weightData: buf }));
}
