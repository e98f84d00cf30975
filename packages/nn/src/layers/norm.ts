import * as tf from '@tensorflow/tfjs-core';
import { Module, type Parameter } from '../module';
import { ones, zeros } from '../init';
import { canFuse, FUSED_KERNELS, normKernel } from '../fused';
import { silu } from './activations';

export interface NormOptions {
  eps?: number;
  /** Learnable scale and shift (PyTorch `elementwise_affine` / `affine`). Default true. */
  affine?: boolean;
}

/** Layer normalisation over the last axis (PyTorch `nn.LayerNorm(dim)`, biased variance). */
export class LayerNorm extends Module {
  readonly eps: number;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(readonly dim: number, options: NormOptions = {}) {
    super();
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? true;
    this.weight = affine ? this.param('weight', [dim], ones) : null;
    this.bias = affine ? this.param('bias', [dim], zeros) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (canFuse(FUSED_KERNELS.layerNorm, x)) {
      return normKernel(FUSED_KERNELS.layerNorm, x, this.weight?.value ?? null, this.bias?.value ?? null, { epsilon: this.eps }, (t) => t, [x.rank - 1]);
    }
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      if (this.weight) y = tf.mul(y, this.weight.value);
      if (this.bias) y = tf.add(y, this.bias.value);
      return y;
    });
  }
}

/** RMS normalisation over the last axis (PyTorch `nn.RMSNorm`). */
export class RMSNorm extends Module {
  readonly eps: number;
  readonly weight: Parameter | null;

  constructor(readonly dim: number, options: NormOptions = {}) {
    super();
    this.eps = options.eps ?? 1e-6;
    this.weight = options.affine ?? true ? this.param('weight', [dim], ones) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), this.eps)));
      return this.weight ? tf.mul(y, this.weight.value) : y;
    });
  }
}

/** Group normalisation of NHWC tensors over (H, W, C/groups) (PyTorch `nn.GroupNorm`, channels last here). */
export class GroupNorm extends Module {
  readonly eps: number;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(readonly numGroups: number, readonly numChannels: number, options: NormOptions = {}) {
    super();
    if (numChannels % numGroups !== 0) throw new Error(`GroupNorm: ${numChannels} channels do not split into ${numGroups} groups`);
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? true;
    this.weight = affine ? this.param('weight', [numChannels], ones) : null;
    this.bias = affine ? this.param('bias', [numChannels], zeros) : null;
  }

  /** Normalises x `[B, H, W, C]`; with `activation` 'silu' the SiLU that usually follows is fused into the same pass. */
  forward(x: tf.Tensor, activation: 'linear' | 'silu' = 'linear'): tf.Tensor {
    if (canFuse(FUSED_KERNELS.groupNorm, x)) {
      const [b, h, w, c] = x.shape;
      const grouped = (t: tf.Tensor) => tf.reshape(t, [b!, h! * w!, this.numGroups, c! / this.numGroups]);
      const attrs = { epsilon: this.eps, numGroups: this.numGroups, activation };
      return normKernel(FUSED_KERNELS.groupNorm, x, this.weight?.value ?? null, this.bias?.value ?? null, attrs, grouped, [1, 3]);
    }
    const y = this.normalize(x);
    if (activation === 'linear') return y;
    const out = silu(y);
    y.dispose();
    return out;
  }

  private normalize(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const g = tf.reshape(x, [b, h * w, this.numGroups, c / this.numGroups]);
      const { mean, variance } = tf.moments(g, [1, 3], true);
      let y = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, this.eps))), x.shape);
      if (this.weight) y = tf.mul(y, this.weight.value);
      if (this.bias) y = tf.add(y, this.bias.value);
      return y;
    });
  }
}
