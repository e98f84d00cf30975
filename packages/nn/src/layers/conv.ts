import * as tf from '@tensorflow/tfjs-core';
import { Module, type Initializer, type Parameter } from '../module';
import { torchDefault } from '../init';

export interface Conv2dOptions {
  stride?: number;
  /** Zero padding on every side, as PyTorch's integer `padding`. Default 0. */
  padding?: number;
  bias?: boolean;
  weightInit?: Initializer;
  biasInit?: Initializer;
}

/** 2-D convolution of NHWC tensors (PyTorch `nn.Conv2d`; kernel stored `[kh, kw, in, out]`). */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly stride: number;
  readonly padding: number;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, options: Conv2dOptions = {}) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    const init = torchDefault(inChannels * kernelSize * kernelSize);
    this.weight = this.param('weight', [kernelSize, kernelSize, inChannels, outChannels], options.weightInit ?? init, { layout: 'conv2d' });
    this.bias = options.bias === false ? null : this.param('bias', [outChannels], options.biasInit ?? init);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const p = this.padding; // explicit padding: the conv kernel pads as it reads, no padded copy of x
      return tf.fused.conv2d({
        x,
        filter: this.weight.value as tf.Tensor4D,
        strides: this.stride,
        pad: p > 0 ? [[0, 0], [p, p], [p, p], [0, 0]] : 'valid',
        bias: this.bias?.value,
      });
    });
  }
}
