import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../node/training/backend.ts';
import { registerSecondOrderGradients } from '../../node/training/second-order-gradients.ts';
import { inferSingleLabel, invertGradient } from '../../bench/attacks/inversion.ts';
import { seededRandom } from '../../node/training/partition.ts';
import { psnr, ssim } from '../../bench/attacks/stats.ts';

// A one-layer model on a 4×4 image: a 3×3 convolution with 3 filters ('same'), flattened, a
// sigmoid output through fixed random read-out weights; the observed update is one SGD step on the
// conv kernel and bias. Its gradient in the kernel is Conv2DBackpropFilter(x, ·): inverting it
// needs that kernel's own gradient.
describe('attacks: gradient inversion core', () => {
  before(async () => {
    await useBackend('cpu');
    registerSecondOrderGradients();
  });
  after(async () => {
    await useBackend('wasm');
  });

  it('recovers a 4×4 input from the update of a one-layer conv model', async () => {
    const rnd = seededRandom(7);
    const r = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * s);
    const k = tf.tensor4d(r(27, 0.5), [3, 3, 1, 3]);
    const b = tf.tensor1d(r(3, 0.1));
    const readout = tf.tensor2d(r(48), [48, 1]);
    const truth = Float32Array.from({ length: 16 }, (_, i) => (i % 4 < 2 ? 0.2 : 0.8) * (i < 8 ? 1 : 0.6)); // two flat regions
    const y = tf.tensor2d([1], [1, 1]);
    const loss = (kk: tf.Tensor, bb: tf.Tensor, x: tf.Tensor4D, yy: tf.Tensor2D) => {
      const h = tf.reshape(tf.add(tf.conv2d(x, kk as tf.Tensor4D, 1, 'same'), bb), [x.shape[0], 48]);
      const z = tf.matMul(h, readout);
      return tf.mean(tf.add(tf.mul(yy, tf.softplus(tf.neg(z))), tf.mul(tf.sub(1, yy), tf.softplus(z)))) as tf.Scalar;
    };
    const weightGradient = (x: tf.Tensor4D, yy: tf.Tensor2D) => {
      const gs = tf.grads((kk: tf.Tensor, bb: tf.Tensor) => loss(kk, bb, x, yy))([k, b]);
      return tf.concat(gs.map((g) => tf.reshape(g, [-1]))) as tf.Tensor1D;
    };
    const lr = 0.05;
    const observed = tf.tidy(() => tf.mul(-lr, weightGradient(tf.tensor4d(truth, [1, 4, 4, 1]), y)).dataSync() as Float32Array);
    const { images, distance } = await invertGradient(observed, { batch: 1, shape: [4, 4, 1], labels: y, weightGradient, iterations: 400, learningRate: 0.05, seed: 3 });
    assert.ok(distance < 1e-3, `cosine distance ${distance}`);
    const err = Math.max(...images.map((v, i) => Math.abs(v - truth[i]!)));
    assert.ok(err < 0.05, `max pixel error ${err}: ${Array.from(images, (v) => v.toFixed(2)).join(' ')}`);
    assert.ok(psnr(truth, images) > 30);
    // a random start is far from it: the match is the optimization's doing
    const start = tf.randomUniform([16], 0, 1, 'float32', 3).dataSync();
    assert.ok(psnr(truth, start) < 15);
    tf.dispose([k, b, readout, y]);
  });

  it('iDLG: the output-bias update of one image gives its label', () => {
    // update = −lr·(p − y) for a sigmoid output
    assert.equal(inferSingleLabel(-0.01 * (0.3 - 1)), 1);
    assert.equal(inferSingleLabel(-0.01 * (0.7 - 0)), 0);
  });

  it('SSIM is 1 for equal images and drops for noise; PSNR is infinite for equal images', () => {
    const rnd = seededRandom(1);
    const a = Float32Array.from({ length: 784 }, (_, i) => ((i % 28) + Math.floor(i / 28)) / 56);
    const noisy = a.map((v) => Math.min(1, Math.max(0, v + (rnd() - 0.5) * 0.8)));
    assert.ok(Math.abs(ssim(a, a, 28, 28) - 1) < 1e-9);
    assert.ok(ssim(a, noisy, 28, 28) < 0.5);
    assert.equal(psnr(a, a), Infinity);
    assert.ok(Math.abs(psnr(a, a.map((v) => v + 0.1)) - 20) < 1e-3);
  });
});
