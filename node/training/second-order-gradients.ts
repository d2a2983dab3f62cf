// Gradients of the two backward kernels tfjs-core registers none for, so that a gradient of a
// CNN's weight gradient (a second-order gradient, as gradient inversion needs) can be taken through
// Conv2D and MaxPool layers on any backend. tfjs already has Conv2DBackpropInput's gradient.
//
// Conv2DBackpropFilter(x, dy) = dW is bilinear in (x, dy); for an incoming gradient ddW:
//   ∂/∂x  = Conv2DBackpropInput(dy, ddW)   (the input gradient of a conv with filter ddW)
//   ∂/∂dy = Conv2D(x, ddW)                 (the forward conv of x with filter ddW)
// (TensorFlow's _Conv2DBackpropFilterGrad.)
// MaxPoolGrad(dy, x, y) = dx routes each dy value to its window's argmax; it is linear in dy and
// piecewise constant in x and y. For an incoming gradient ddx: ∂/∂dy = ddx gathered at the argmax
// positions (MaxPoolWithArgmax), ∂/∂x = ∂/∂y = 0 (TensorFlow's _MaxPoolGradGrad). Ties (a window
// of equal values, e.g. ReLU zeros) may route to a different position than MaxPoolGrad's choice.
// On the wasm backend (tfjs 4.22) MaxPoolGrad and MaxPoolWithArgmax mishandle windows whose values
// are all negative; after a ReLU, as in flnode's CNN, they never are.
import * as tf from '@tensorflow/tfjs';

type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  dilations?: number | [number, number];
};
type PoolAttrs = { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };

const isOne = (v: number | [number, number] | undefined): boolean => v === undefined || (typeof v === 'number' ? v === 1 : v[0] === 1 && v[1] === 1);

export const conv2dBackpropFilterGradConfig: tf.GradConfig = {
  kernelName: 'Conv2DBackpropFilter',
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, saved, attrs) => {
    const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    if (!isOne(a.dilations)) throw new Error('Conv2DBackpropFilter gradient: dilations > 1 are not supported');
    if (a.dataFormat && a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter gradient: only NHWC is supported');
    const strides = a.strides;
    return {
      x: () =>
        tf.engine().runKernel(
          'Conv2DBackpropInput',
          { dy, filter: ddw as tf.Tensor4D },
          { strides, pad: a.pad, dataFormat: 'NHWC', dimRoundingMode: a.dimRoundingMode, inputShape: x.shape, dilations: 1 } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor4D,
      dy: () => tf.conv2d(x, ddw as tf.Tensor4D, strides, a.pad as 'same', 'NHWC', 1, a.dimRoundingMode),
    };
  },
};

export const maxPoolGradGradConfig: tf.GradConfig = {
  kernelName: 'MaxPoolGrad',
  inputsToSave: ['dy', 'input', 'output'],
  gradFunc: (ddx, saved, attrs) => {
    const [dy, input, output] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as PoolAttrs;
    if (a.dimRoundingMode !== undefined) throw new Error('MaxPoolGrad gradient: dimRoundingMode is not supported');
    return {
      dy: () =>
        tf.tidy(() => {
          const { indexes } = tf.maxPoolWithArgmax(input, a.filterSize, a.strides, a.pad, true);
          const flat = tf.reshape(ddx as tf.Tensor, [-1]);
          return tf.reshape(tf.gather(flat, tf.reshape(indexes!, [-1]) as tf.Tensor1D), dy.shape);
        }),
      input: () => tf.zerosLike(input),
      output: () => tf.zerosLike(output),
    };
  },
};

let registered = false;
/** Registers both gradients once per process (they apply to every backend). */
export function registerSecondOrderGradients(): void {
  if (registered) return;
  tf.registerGradient(conv2dBackpropFilterGradConfig);
  tf.registerGradient(maxPoolGradGradConfig);
  registered = true;
}
