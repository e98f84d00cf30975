import * as tf from '@tensorflow/tfjs-core';

/**
 * Nearest-neighbour 2× upsampling of NHWC tensors (PyTorch `F.interpolate(scale_factor=2, mode="nearest")`).
 * Written as reshape · ones so that its gradient is exact on every backend (tfjs-cpu's resize gradient is wrong
 * for batch > 1, and tile's gradient stops at rank 4).
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const spread = tf.mul(tf.reshape(x, [b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1]));
    return tf.reshape(spread, [b, 2 * h, 2 * w, c]);
  });
}
