import * as tf from '@tensorflow/tfjs-core';
import { Module, type Initializer, type Parameter } from '../module';
import { torchDefault } from '../init';

export interface LinearOptions {
  bias?: boolean;
  weightInit?: Initializer;
  biasInit?: Initializer;
}

/** `y = x·Wᵀ + b` over the last axis (PyTorch `nn.Linear`; weight stored `[in, out]`, loaded from `[out, in]`). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    const init = torchDefault(inFeatures);
    this.weight = this.param('weight', [inFeatures, outFeatures], options.weightInit ?? init, { layout: 'linear' });
    this.bias = options.bias === false ? null : this.param('bias', [outFeatures], options.biasInit ?? init);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      const y = tf.fused.matMul({ a: x2, b: this.weight.value as tf.Tensor2D, bias: this.bias?.value });
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
}
