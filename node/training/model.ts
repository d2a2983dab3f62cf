// The CNN and its weights as one flat Float32Array.
//
// Architecture (28x28x1 input): Conv 3x3x16 same + ReLU → MaxPool 2 → Conv 3x3x32 same + ReLU →
// MaxPool 2 → Flatten (7·7·32) → Dense 32 + ReLU → Dense L (sigmoid for binary/multi-label,
// softmax for multi-class). 55,681 parameters for one output.
//
// Flat order: model.getWeights() order (per layer: kernel then bias), each tensor row-major
// (tfjs layout: conv kernels [kh, kw, in, out], dense kernels [in, out]).
import * as tf from '@tensorflow/tfjs';
import type { Task } from './registry.ts';

export function createModel(task: Task, outputs: number, seed: number): tf.LayersModel {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed * 100 + k });
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), name: 'conv1' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  model.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2), name: 'conv2' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(3), name: 'dense1' }));
  model.add(tf.layers.dense({ units: outputs, activation: task === 'multi-class' ? 'softmax' : 'sigmoid', kernelInitializer: init(4), name: 'out' }));
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
