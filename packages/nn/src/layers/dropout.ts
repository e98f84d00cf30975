import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';

/** Inverted dropout, active only in train mode (PyTorch `nn.Dropout`). */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.tidy(() => tf.div(tf.mul(x, tf.cast(tf.greaterEqual(tf.randomUniform(x.shape), this.p), 'float32')), 1 - this.p));
  }
}
