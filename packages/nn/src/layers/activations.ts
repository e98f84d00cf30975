import * as tf from '@tensorflow/tfjs-core';
import { canFuse, FUSED_KERNELS, geluTanhKernel, siluKernel } from '../fused';

/** Exact GELU, `0.5·x·(1 + erf(x/√2))` (PyTorch `nn.GELU()`). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** Tanh-approximated GELU (PyTorch `nn.GELU(approximate="tanh")`): one kernel where the backend has it. */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  if (canFuse(FUSED_KERNELS.geluTanh, x)) return geluTanhKernel(x);
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.mul(x, tf.add(1, tf.mul(0.044715, tf.mul(x, x)))));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

/** SiLU / swish, `x·σ(x)`: one kernel where the backend has it. */
export function silu(x: tf.Tensor): tf.Tensor {
  if (canFuse(FUSED_KERNELS.silu, x)) return siluKernel(x);
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

export type Activation = 'gelu' | 'gelu_tanh' | 'silu' | 'relu' | 'identity';

export function activation(name: Activation): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'gelu_tanh':
      return geluTanh;
    case 'silu':
      return silu;
    case 'relu':
      return (x) => tf.relu(x);
    case 'identity':
      return (x) => x;
  }
}
