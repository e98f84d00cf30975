import * as tf from '@tensorflow/tfjs-core';
import { Module, type Initializer, type Parameter } from '../module';
import { normal } from '../init';

/** Lookup table (PyTorch `nn.Embedding`). Implemented as one-hot · table so it trains on every backend. */
export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, init: Initializer = normal(1)) {
    super();
    this.weight = this.param('weight', [numEmbeddings, embeddingDim], init);
  }

  /** `indices`: int32 tensor of any shape; returns `[...indices.shape, dim]`. */
  forward(indices: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const flat = tf.reshape(indices, [-1]) as tf.Tensor1D;
      const oneHot = tf.oneHot(tf.cast(flat, 'int32'), this.numEmbeddings, 1, 0, 'float32');
      const rows = tf.matMul(oneHot, this.weight.value as tf.Tensor2D);
      return tf.reshape(rows, [...indices.shape, this.embeddingDim]);
    });
  }
}
