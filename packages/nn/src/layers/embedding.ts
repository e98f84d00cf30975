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
      // wasm's OneHot writes integer bits into float32 outputs: build it as int32 and cast.
      const oneHot = tf.cast(tf.oneHot(tf.cast(flat, 'int32'), this.numEmbeddings), 'float32') as tf.Tensor2D;
      const rows = tf.matMul(oneHot, this.weight.value as tf.Tensor2D);
      return tf.reshape(rows, [...indices.shape, this.embeddingDim]);
    });
  }
}
