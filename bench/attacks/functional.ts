// The flnode CNN (node/training/model.ts) written as a function of its flat weights, with ops whose
// gradients are differentiable again (with node/training/second-order-gradients.ts registered):
// the attacker's replica for gradient inversion. Layout and loss follow model.ts and trainer.ts.
import * as tf from '@tensorflow/tfjs';

export interface Shape {
  name: string;
  shape: number[];
}

/** Splits a flat weight vector (model.ts order) into tensors. */
export function splitWeights(flat: Float32Array | tf.Tensor1D, shapes: readonly Shape[]): tf.Tensor[] {
  const t = flat instanceof Float32Array ? tf.tensor1d(flat) : flat;
  const sizes = shapes.map((s) => s.shape.reduce((a, b) => a * b, 1));
  const parts = tf.split(t, sizes);
  const out = parts.map((p, i) => tf.reshape(p, shapes[i]!.shape));
  if (t !== flat) t.dispose();
  parts.forEach((p) => p.dispose());
  return out;
}

/** The logit of the CNN's sigmoid output for x [B, 28, 28, 1] (conv–pool–conv–pool–dense–dense). */
export function logits(w: readonly tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  const [k1, b1, k2, b2, k3, b3, k4, b4] = w as tf.Tensor[];
  let h = tf.relu(tf.add(tf.conv2d(x, k1 as tf.Tensor4D, 1, 'same'), b1!)) as tf.Tensor4D;
  h = tf.maxPool(h, 2, 2, 'valid');
  h = tf.relu(tf.add(tf.conv2d(h, k2 as tf.Tensor4D, 1, 'same'), b2!)) as tf.Tensor4D;
  h = tf.maxPool(h, 2, 2, 'valid');
  const f = tf.reshape(h, [x.shape[0], -1]) as tf.Tensor2D;
  const d = tf.relu(tf.add(tf.matMul(f, k3 as tf.Tensor2D), b3!)) as tf.Tensor2D;
  return tf.add(tf.matMul(d, k4 as tf.Tensor2D), b4!) as tf.Tensor2D;
}

/**
 * The trainer's loss, binary cross-entropy, mean over the batch, written on logits:
 * y·softplus(−z) + (1 − y)·softplus(z). Equal to the trainer's Keras form (which clips p to
 * [1e-7, 1 − 1e-7]) wherever the clip is inactive; the clip's mask ops have no gradients in tfjs.
 */
export function loss(w: readonly tf.Tensor[], x: tf.Tensor4D, y: tf.Tensor2D): tf.Scalar {
  const z = logits(w, x);
  return tf.mean(tf.add(tf.mul(y, tf.softplus(tf.neg(z))), tf.mul(tf.sub(1, y), tf.softplus(z)))) as tf.Scalar;
}

/** ∂loss/∂w for every weight tensor, flattened and concatenated (model.ts order). */
export function weightGradient(w: readonly tf.Tensor[], x: tf.Tensor4D, y: tf.Tensor2D): tf.Tensor1D {
  const gs = tf.grads((...ws: tf.Tensor[]) => loss(ws, x, y))([...w]);
  return tf.concat(gs.map((g) => tf.reshape(g, [-1]))) as tf.Tensor1D;
}
