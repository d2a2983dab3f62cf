// Conv2DBackpropFilter for the tfjs wasm backend, which lacks it (so Conv2D layers cannot train
// there). Built from kernels the wasm backend has: the filter gradient is itself a convolution of
// the input with the output gradient, with the roles of batch and channels swapped:
//   dW[kh, kw, ci, co] = Σ_n Σ_oh,ow x[n, oh·s + kh·d − pad_top, ow·s + kw·d − pad_left, ci] · dy[n, oh, ow, co]
// i.e. conv2d(input = xᵀ [Cin, H, W, N], filter = dyᵀ [OH, OW, N, Cout], strides = d, dilations = s)
// gives [Cin, ≥KH, ≥KW, Cout]; slice to the filter size and transpose to [KH, KW, Cin, Cout].
import * as tf from '@tensorflow/tfjs';

type Attrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  dilations?: number | [number, number];
};

const pair = (v: number | [number, number] | undefined): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);

export function conv2dBackpropFilterKernel({ inputs, attrs }: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as Attrs;
  if (a.dataFormat && a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
  const [sh, sw] = pair(a.strides);
  const [dh, dw] = pair(a.dilations);
  if ((sh > 1 || sw > 1) && (dh > 1 || dw > 1)) throw new Error('Conv2DBackpropFilter (wasm): strides and dilations cannot both exceed 1');
  const [kh, kw, cin, cout] = a.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    a.filterShape,
    [sh, sw],
    [dh, dw],
    a.pad as 'valid',
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { top, bottom, left, right } = info.padInfo;
  const e = tf.engine();
  const xT = e.runKernel('Transpose', { x } as unknown as tf.NamedTensorMap, { perm: [3, 1, 2, 0] }) as tf.Tensor4D; // [Cin, H, W, N]
  const dyT = e.runKernel('Transpose', { x: dy } as unknown as tf.NamedTensorMap, { perm: [1, 2, 0, 3] }) as tf.Tensor4D; // [OH, OW, N, Cout]
  const conv = e.runKernel(
    'Conv2D',
    { x: xT, filter: dyT },
    { strides: [dh, dw], pad: [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]], dataFormat: 'NHWC', dilations: [sh, sw] },
  ) as tf.Tensor4D; // [Cin, ≥KH, ≥KW, Cout]
  let cropped = conv;
  if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
    cropped = e.runKernel('Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [cin, kh, kw, cout] }) as tf.Tensor4D;
  }
  const out = e.runKernel('Transpose', { x: cropped }, { perm: [1, 2, 0, 3] }) as tf.Tensor4D; // [KH, KW, Cin, Cout]
  xT.dispose();
  dyT.dispose();
  conv.dispose();
  if (cropped !== conv) cropped.dispose();
  return out;
}

let registered = false;
export function registerWasmConv2DBackpropFilter(): void {
  if (registered || tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterKernel as unknown as tf.KernelFunc });
  registered = true;
}
