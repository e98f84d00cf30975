import * as tf from '@tensorflow/tfjs-core';
import { attentionKernel, canFuse, FUSED_KERNELS } from '../fused';
import { Module } from '../module';
import { Linear } from './linear';
import { LayerNorm } from './norm';

/**
 * `softmax(q·kᵀ·scale)·v` for q, k, v `[B, heads, T, headDim]`; scale defaults to 1/√headDim. One kernel where the
 * backend has it (the scores never materialise as a tensor).
 */
export function scaledDotProductAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale = 1 / Math.sqrt(q.shape[3])): tf.Tensor4D {
  if (canFuse(FUSED_KERNELS.attention, q)) return attentionKernel(q, k, v, scale) as tf.Tensor4D;
  return tf.tidy(() => {
    const scores = tf.matMul(tf.mul(q, scale) as tf.Tensor4D, k, false, true);
    return tf.matMul(tf.softmax(scores), v) as tf.Tensor4D;
  });
}

/** Applies a position encoding to q and k (`[B, heads, T, headDim]`) before attention, e.g. RoPE. */
export type QKTransform = (q: tf.Tensor4D, k: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D];

export interface AttentionOptions {
  qkvBias?: boolean;
  projBias?: boolean;
  /** LayerNorm over each head's q and k vectors (one weight shared by all heads), as timm's `qk_norm`. */
  qkNorm?: boolean;
  /** Epsilon of the q/k norms (default 1e-5, PyTorch's LayerNorm default). */
  qkNormEps?: number;
  /** A custom qkv projection (e.g. DINOv3's masked-bias linear); must map dim → 3·dim. */
  qkv?: Linear;
}

/** Multi-head self-attention with timm's names: `qkv`, optional `q_norm`/`k_norm`, `proj`. */
export class Attention extends Module {
  readonly qkv: Linear;
  readonly qNorm: LayerNorm | null;
  readonly kNorm: LayerNorm | null;
  readonly proj: Linear;
  readonly headDim: number;

  constructor(readonly dim: number, readonly numHeads: number, options: AttentionOptions = {}) {
    super();
    if (dim % numHeads !== 0) throw new Error(`Attention: dim ${dim} is not divisible by ${numHeads} heads`);
    this.headDim = dim / numHeads;
    this.qkv = this.child('qkv', options.qkv ?? new Linear(dim, 3 * dim, { bias: options.qkvBias ?? true }));
    const eps = options.qkNormEps ?? 1e-5;
    this.qNorm = options.qkNorm ? this.child('q_norm', new LayerNorm(this.headDim, { eps })) : null;
    this.kNorm = options.qkNorm ? this.child('k_norm', new LayerNorm(this.headDim, { eps })) : null;
    this.proj = this.child('proj', new Linear(dim, dim, { bias: options.projBias ?? true }));
  }

  /** x `[B, T, dim]` → `[B, T, dim]`. */
  forward(x: tf.Tensor3D, positions?: QKTransform): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, t, 3, this.numHeads, this.headDim]), [2, 0, 3, 1, 4]);
      let [q, k, v] = tf.unstack(qkv) as tf.Tensor4D[];
      if (this.qNorm && this.kNorm) {
        q = this.qNorm.forward(q) as tf.Tensor4D;
        k = this.kNorm.forward(k) as tf.Tensor4D;
      }
      if (positions) [q, k] = positions(q, k);
      const o = scaledDotProductAttention(q, k, v);
      return this.proj.forward(tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [b, t, this.dim])) as tf.Tensor3D;
    });
  }
}
