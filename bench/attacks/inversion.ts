// Gradient inversion (Geiping et al. 2020, "Inverting Gradients — How easy is it to break privacy
// in federated learning?", NeurIPS): find images x̂ whose weight gradient has the highest cosine
// similarity to the observed update, plus a total-variation prior, by Adam on x̂ projected to
// [0, 1]. The observed update of one SGD step is −lr·∇W: its negation is matched (cosine is
// scale-free, so lr need not be known).
// Label of a single image: the sign of the output-bias gradient (Zhao et al. 2020, iDLG).
import * as tf from '@tensorflow/tfjs';

export interface InversionOptions {
  /** Number of images to reconstruct. */
  batch: number;
  /** Image shape [h, w, c]. */
  shape: [number, number, number];
  /** Labels of the reconstructed images ([batch, outputs]). */
  labels: tf.Tensor2D;
  /** ∇W of the loss as one flat vector, for images x (differentiable in x). */
  weightGradient: (x: tf.Tensor4D, y: tf.Tensor2D) => tf.Tensor1D;
  iterations: number;
  learningRate?: number;
  /** Weight of the TV prior (mean absolute neighbour difference). */
  tv?: number;
  seed: number;
}

export function totalVariation(x: tf.Tensor4D): tf.Scalar {
  const [, h, w] = x.shape;
  const dh = tf.sub(tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]));
  const dw = tf.sub(tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]));
  return tf.add(tf.mean(tf.abs(dh)), tf.mean(tf.abs(dw))) as tf.Scalar;
}

/** 1 − cos(a, b). */
export function cosineDistance(a: tf.Tensor1D, b: tf.Tensor1D): tf.Scalar {
  return tf.sub(1, tf.div(tf.sum(tf.mul(a, b)), tf.add(tf.mul(tf.norm(a), tf.norm(b)), 1e-12))) as tf.Scalar;
}

/** Reconstructs `batch` images from `observed`; returns them in [0, 1] and the final cosine distance. */
export async function invertGradient(observed: Float32Array, o: InversionOptions): Promise<{ images: Float32Array; distance: number }> {
  const target = tf.neg(tf.tensor1d(observed)) as tf.Tensor1D;
  const x = tf.variable(tf.randomUniform([o.batch, ...o.shape], 0, 1, 'float32', o.seed));
  const lr = o.learningRate ?? 0.1;
  const optimizer = tf.train.adam(lr);
  let distance = NaN;
  for (let it = 0; it < o.iterations; it++) {
    // step decay at 3/8, 5/8 and 7/8 of the run, as in Geiping et al.
    const f = it / o.iterations;
    (optimizer as unknown as { learningRate: number }).learningRate = lr * (f < 3 / 8 ? 1 : f < 5 / 8 ? 0.1 : f < 7 / 8 ? 0.01 : 0.001);
    const cost = optimizer.minimize(() => {
      const d = cosineDistance(o.weightGradient(x as unknown as tf.Tensor4D, o.labels), target);
      return (o.tv ? tf.add(d, tf.mul(o.tv, totalVariation(x as unknown as tf.Tensor4D))) : d) as tf.Scalar;
    }, true)!;
    if (it === o.iterations - 1) distance = (await cost.data())[0]!;
    cost.dispose();
    tf.tidy(() => x.assign(tf.clipByValue(x, 0, 1)));
  }
  const images = (await x.data()) as Float32Array;
  optimizer.dispose();
  tf.dispose([x, target]);
  return { images: Float32Array.from(images), distance };
}

/** iDLG: for one image with a sigmoid output, the output-bias gradient p − y is < 0 iff y = 1. */
export function inferSingleLabel(outputBiasUpdate: number): 0 | 1 {
  // the update is −lr·(p − y): positive iff y = 1
  return outputBiasUpdate > 0 ? 1 : 0;
}
