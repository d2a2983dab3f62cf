import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../node/training/backend.ts';
import { registerSecondOrderGradients } from '../../node/training/second-order-gradients.ts';
import { splitWeights, weightGradient } from '../../bench/attacks/functional.ts';
import { createModel, flattenWeights, weightShapes } from '../../node/training/model.ts';
import { seededRandom } from '../../node/training/partition.ts';

// Each registered gradient against central finite differences (float64 host arithmetic on the
// float32 kernels' outputs), on the cpu backend and on wasm.
const rnd = seededRandom(42);
const rand = (n: number) => Float32Array.from({ length: n }, () => rnd() * 2 - 1);

function fdCheck(f: (v: Float32Array) => number, at: Float32Array, analytic: Float32Array, eps: number, tol: number, picks = 12): void {
  for (let k = 0; k < picks; k++) {
    const i = Math.floor(rnd() * at.length);
    const up = Float32Array.from(at);
    const dn = Float32Array.from(at);
    up[i] = up[i]! + eps;
    dn[i] = dn[i]! - eps;
    const fd = (f(up) - f(dn)) / (2 * eps);
    assert.ok(Math.abs(fd - analytic[i]!) <= tol * Math.max(1, Math.abs(fd)), `coordinate ${i}: finite difference ${fd} vs gradient ${analytic[i]}`);
  }
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`attacks: second-order gradient kernels (${backend})`, () => {
    before(async () => {
      await useBackend(backend);
      registerSecondOrderGradients();
    });
    after(async () => {
      await useBackend('wasm');
    });

    for (const c of [
      { x: [2, 6, 6, 2] as [number, number, number, number], f: [3, 3, 2, 3] as [number, number, number, number], strides: 1, pad: 'same' as const },
      { x: [1, 7, 7, 1] as [number, number, number, number], f: [3, 3, 1, 2] as [number, number, number, number], strides: 2, pad: 'valid' as const },
    ]) {
      it(`Conv2DBackpropFilter: gradients in x and dy (x ${c.x.join('x')}, stride ${c.strides}, ${c.pad})`, () => {
        const n = c.x.reduce((a, b) => a * b);
        const outShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.f) as tf.Tensor4D, c.strides, c.pad).shape);
        const dyN = outShape.reduce((a, b) => a * b);
        const xv = rand(n);
        const dyv = rand(dyN);
        const r = tf.tensor(rand(c.f.reduce((a, b) => a * b)), c.f);
        const f = (x: tf.Tensor, dy: tf.Tensor) =>
          tf.sum(tf.mul(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: 1, filterShape: c.f } as unknown as tf.NamedAttrMap) as tf.Tensor, r)) as tf.Scalar;
        const [gx, gdy] = tf.grads((x: tf.Tensor, dy: tf.Tensor) => f(x, dy))([tf.tensor(xv, c.x), tf.tensor(dyv, outShape)]);
        const val = (x: Float32Array, dy: Float32Array) => tf.tidy(() => f(tf.tensor(x, c.x), tf.tensor(dy, outShape)).dataSync()[0]!);
        fdCheck((v) => val(v, dyv), xv, gx!.dataSync() as Float32Array, 1e-2, 2e-3);
        fdCheck((v) => val(xv, v), dyv, gdy!.dataSync() as Float32Array, 1e-2, 2e-3);
        tf.dispose([r, gx!, gdy!]);
      });
    }

    it('MaxPoolGrad: gradient in dy routes to the window maxima; zero in x', () => {
      const xs = [2, 6, 6, 3];
      // positive, distinct values (no ties), as after a ReLU: the wasm backend's MaxPoolGrad and
      // MaxPoolWithArgmax mishandle windows whose values are all negative (tfjs 4.22)
      const xv = rand(xs.reduce((a, b) => a * b)).map((v) => 0.1 + Math.abs(v));
      const x = tf.tensor4d(xv, xs as [number, number, number, number]);
      const y = tf.maxPool(x, 2, 2, 'valid');
      const dyv = rand(y.size);
      const r = tf.tensor(rand(x.size), x.shape);
      const f = (dy: tf.Tensor, xx: tf.Tensor) =>
        tf.sum(tf.mul(tf.engine().runKernel('MaxPoolGrad', { dy, input: xx, output: tf.maxPool(xx as tf.Tensor4D, 2, 2, 'valid') }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor, r)) as tf.Scalar;
      const [gdy, gx] = tf.grads((dy: tf.Tensor, xx: tf.Tensor) => f(dy, xx))([tf.tensor(dyv, y.shape), x]);
      const val = (dy: Float32Array, xx: Float32Array) => tf.tidy(() => f(tf.tensor(dy, y.shape), tf.tensor(xx, x.shape)).dataSync()[0]!);
      fdCheck((v) => val(v, xv), dyv, gdy!.dataSync() as Float32Array, 1e-2, 2e-3);
      fdCheck((v) => val(dyv, v), xv, gx!.dataSync() as Float32Array, 1e-4, 1e-3);
      assert.ok(Math.max(...(gdy!.dataSync() as Float32Array).map(Math.abs)) > 0.05, 'the dy gradient is not trivially zero');
      tf.dispose([x, y, r, gdy!, gx!]);
    });

    it('the CNN replica: d/dx of a weight-gradient norm matches a finite difference along a direction', () => {
      const model = createModel('binary', 1, 3);
      const w = splitWeights(flattenWeights(model), weightShapes(model));
      model.dispose();
      const xv = Float32Array.from({ length: 2 * 784 }, () => rnd());
      const y = tf.tensor2d([1, 0], [2, 1]);
      const h = (x: tf.Tensor) => tf.sum(tf.square(weightGradient(w, x as tf.Tensor4D, y))) as tf.Scalar;
      const g = tf.grad(h)(tf.tensor4d(xv, [2, 28, 28, 1])).dataSync() as Float32Array;
      // direction: the signs of the 6 largest gradient entries (a short step there crosses no
      // ReLU or pooling switch, where h jumps, and the derivative is large against float32 noise)
      const v = new Float32Array(2 * 784);
      [...g.keys()].sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!)).slice(0, 6).forEach((i) => (v[i] = Math.sign(g[i]!)));
      const analytic = g.reduce((a, gi, i) => a + gi * v[i]!, 0);
      const eps = 1e-3;
      const at = (s: number) => tf.tidy(() => h(tf.tensor4d(xv.map((xi, i) => xi + s * v[i]!), [2, 28, 28, 1])).dataSync()[0]!);
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      assert.ok(Math.abs(analytic) > 1e-6, 'non-trivial directional derivative');
      // float32 rounding of h (a sum of ~56k squares) divided by 2·eps bounds the difference's noise
      const noise = (64 * Math.abs(at(0)) * 2 ** -24) / eps;
      assert.ok(Math.abs(fd - analytic) <= 0.02 * Math.abs(fd) + noise, `finite difference ${fd} vs gradient ${analytic} (noise ${noise})`);
      assert.ok(noise < 0.2 * Math.abs(analytic), 'the check is sharper than its noise');
      tf.dispose([...w, y]);
    });
  });
}
