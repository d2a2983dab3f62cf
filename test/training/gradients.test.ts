import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../node/training/backend.ts';

// The wasm backend's Conv2DBackpropFilter (flnode's own kernel) against the cpu backend's.
const cases: { x: [number, number, number, number]; f: [number, number, number, number]; strides: number; pad: 'same' | 'valid'; dilation: number }[] = [
  { x: [2, 8, 8, 1], f: [3, 3, 1, 4], strides: 1, pad: 'same', dilation: 1 },
  { x: [3, 9, 9, 3], f: [3, 3, 3, 5], strides: 2, pad: 'same', dilation: 1 },
  { x: [2, 10, 7, 2], f: [2, 3, 2, 3], strides: 2, pad: 'valid', dilation: 1 },
  { x: [1, 11, 11, 2], f: [3, 3, 2, 2], strides: 1, pad: 'valid', dilation: 2 },
  { x: [2, 12, 12, 4], f: [5, 5, 4, 6], strides: 3, pad: 'same', dilation: 1 },
  { x: [4, 14, 14, 16], f: [3, 3, 16, 32], strides: 1, pad: 'same', dilation: 1 },
];

async function filterGrad(backend: 'wasm' | 'cpu', xv: Float32Array, dyv: Float32Array, c: (typeof cases)[number]): Promise<{ grad: Float32Array; kernel: boolean }> {
  await useBackend(backend);
  const x = tf.tensor4d(xv, c.x);
  const out = tf.conv2d(x, tf.zeros(c.f) as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilation);
  const dy = tf.tensor(dyv.subarray(0, out.size), out.shape) as tf.Tensor4D;
  const dw = tf.conv2dTranspose === undefined ? null : (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilation, filterShape: c.f }) as tf.Tensor);
  const grad = (await dw!.data()) as Float32Array;
  tf.dispose([x, out, dy, dw!]);
  return { grad, kernel: !!tf.getKernel('Conv2DBackpropFilter', backend) };
}

/** Direct evaluation of dW[kh,kw,ci,co] = Σ x[n, oh·s + kh·d − pt, ow·s + kw·d − pl, ci] · dy[n, oh, ow, co]. */
function naiveFilterGrad(xv: Float32Array, dyv: Float32Array, c: (typeof cases)[number]): Float32Array {
  const [N, H, W, CI] = c.x;
  const [KH, KW, , CO] = c.f;
  const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, c.dilation, c.pad);
  const { outHeight: OH, outWidth: OW } = info;
  const { top, left } = info.padInfo;
  const out = new Float32Array(KH * KW * CI * CO);
  for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) for (let ci = 0; ci < CI; ci++) for (let co = 0; co < CO; co++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      const h = oh * c.strides + kh * c.dilation - top;
      const w = ow * c.strides + kw * c.dilation - left;
      if (h < 0 || h >= H || w < 0 || w >= W) continue;
      s += xv[((n * H + h) * W + w) * CI + ci]! * dyv[((n * OH + oh) * OW + ow) * CO + co]!;
    }
    out[((kh * KW + kw) * CI + ci) * CO + co] = s;
  }
  return out;
}

describe('training: wasm Conv2DBackpropFilter', () => {
  after(async () => {
    await useBackend('wasm');
  });
  for (const c of cases) {
    it(`matches the cpu backend (x ${c.x.join('x')}, filter ${c.f.join('x')}, stride ${c.strides}, ${c.pad}, dilation ${c.dilation})`, async () => {
      const n = c.x.reduce((a, b) => a * b);
      const xv = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 2);
      const dyv = Float32Array.from({ length: n * 8 }, (_, i) => Math.cos(i * 78.233));
      const w = await filterGrad('wasm', xv, dyv, c);
      // tfjs's cpu kernel ignores dilations, so dilated cases are checked against the definition.
      const cpu = c.dilation === 1 ? await filterGrad('cpu', xv, dyv, c) : { grad: naiveFilterGrad(xv, dyv, c) };
      assert.ok(w.kernel, 'the kernel is registered for wasm');
      const naive = naiveFilterGrad(xv, dyv, c);
      for (let i = 0; i < naive.length; i++) assert.ok(Math.abs(naive[i]! - cpu.grad[i]!) <= 1e-3 * Math.max(1, Math.abs(naive[i]!)), 'reference agrees with the definition');
      assert.equal(w.grad.length, cpu.grad.length);
      let maxRel = 0;
      for (let i = 0; i < cpu.grad.length; i++) maxRel = Math.max(maxRel, Math.abs(w.grad[i]! - cpu.grad[i]!) / Math.max(1, Math.abs(cpu.grad[i]!)));
      assert.ok(maxRel <= 1e-4, `max relative error ${maxRel}`);
    });
  }
  it('end to end: a conv layer trains on wasm with the same gradient as on cpu', async () => {
    const xv = Float32Array.from({ length: 2 * 6 * 6 * 2 }, (_, i) => Math.sin(i));
    const fv = Float32Array.from({ length: 3 * 3 * 2 * 3 }, (_, i) => Math.cos(i));
    const grads: Float32Array[] = [];
    for (const b of ['wasm', 'cpu'] as const) {
      await useBackend(b);
      const x = tf.tensor4d(xv, [2, 6, 6, 2]);
      const g = tf.grad((f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, 1, 'same').square().sum());
      const r = g(tf.tensor4d(fv, [3, 3, 2, 3]));
      grads.push((await r.data()) as Float32Array);
    }
    for (let i = 0; i < grads[0]!.length; i++) assert.ok(Math.abs(grads[0]![i]! - grads[1]![i]!) <= 1e-4 * Math.max(1, Math.abs(grads[1]![i]!)));
  });
});
