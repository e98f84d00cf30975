import * as tf from '@tensorflow/tfjs-core';
import { Attention, Conv2d, LayerNorm, Linear, Mlp, Module, RMSNorm, SwiGLU, init, type Parameter, type QKTransform } from '@svg/nn';
import { type Dinov3Config, NORM_EPS, ffnHiddenDim } from './config';

/** 1 on the q and v thirds, 0 on the k third: what upstream `init_weights` puts in `bias_mask`. */
export function kBiasMask(outFeatures: number): Float32Array {
  const mask = new Float32Array(outFeatures).fill(1);
  mask.fill(0, Math.floor(outFeatures / 3), Math.floor((2 * outFeatures) / 3));
  return mask;
}

/** Upstream `LinearKMaskedBias`: a Linear whose effective bias is `bias ⊙ bias_mask` (buffer). */
export class LinearKMaskedBias extends Linear {
  readonly biasMask: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, bias: boolean) {
    super(inFeatures, outFeatures, { bias, weightInit: init.truncatedNormal(0.02), biasInit: init.zeros });
    this.biasMask = bias ? this.buffer('bias_mask', [outFeatures], (shape) => tf.tensor(kBiasMask(outFeatures), shape)) : null;
  }

  override forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      const bias = this.bias && this.biasMask ? tf.mul(this.bias.value, this.biasMask.value) : this.bias?.value;
      const y = tf.fused.matMul({ a: x2, b: this.weight.value as tf.Tensor2D, bias });
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
}

/** Element-wise multiplication by a learned vector `gamma` (upstream `LayerScale`). */
export class LayerScale extends Module {
  readonly gamma: Parameter;

  constructor(dim: number, initValue: number) {
    super();
    this.gamma = this.param('gamma', [dim], init.constant(initValue));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, this.gamma.value);
  }
}

/** The norm named by `config.normLayer`. */
export function makeNorm(config: Dinov3Config): LayerNorm | RMSNorm {
  const eps = NORM_EPS[config.normLayer];
  return config.normLayer === 'rmsnorm' ? new RMSNorm(config.embedDim, { eps }) : new LayerNorm(config.embedDim, { eps });
}

/** Upstream `PatchEmbed`: Conv2d(kernel = stride = patch size) over NHWC input; partial patches are dropped. */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(readonly patchSize: number, inChans: number, embedDim: number) {
    super();
    this.proj = this.child('proj', new Conv2d(inChans, embedDim, patchSize, { stride: patchSize }));
  }

  /** `[B, Hi, Wi, C]` → `[B, ⌊Hi/P⌋, ⌊Wi/P⌋, D]`. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.proj.forward(x);
  }
}

/** Upstream `SelfAttentionBlock` in eval mode: pre-norm attention (with RoPE) and FFN, each with LayerScale. */
export class SelfAttentionBlock extends Module {
  readonly norm1: LayerNorm | RMSNorm;
  readonly attn: Attention;
  readonly ls1: LayerScale | null;
  readonly norm2: LayerNorm | RMSNorm;
  readonly mlp: Mlp | SwiGLU;
  readonly ls2: LayerScale | null;

  constructor(config: Dinov3Config) {
    super();
    const d = config.embedDim;
    this.norm1 = this.child('norm1', makeNorm(config));
    const qkv = config.maskKBias
      ? new LinearKMaskedBias(d, 3 * d, config.qkvBias)
      : new Linear(d, 3 * d, { bias: config.qkvBias, weightInit: init.truncatedNormal(0.02), biasInit: init.zeros });
    this.attn = this.child('attn', new Attention(d, config.numHeads, { qkv, projBias: config.projBias }));
    this.ls1 = config.layerscaleInit === null ? null : this.child('ls1', new LayerScale(d, config.layerscaleInit));
    this.norm2 = this.child('norm2', makeNorm(config));
    const hidden = ffnHiddenDim(config);
    this.mlp = this.child('mlp', config.ffnLayer === 'mlp' ? new Mlp(d, hidden, d, 'gelu', config.ffnBias) : new SwiGLU(d, hidden, d, config.ffnBias));
    this.ls2 = config.layerscaleInit === null ? null : this.child('ls2', new LayerScale(d, config.layerscaleInit));
  }

  /** x `[B, T, D]`; `rope` rotates q and k of the patch tokens. */
  forward(x: tf.Tensor3D, rope?: QKTransform): tf.Tensor3D {
    return tf.tidy(() => {
      const scale = (ls: LayerScale | null, y: tf.Tensor) => (ls ? ls.forward(y) : y);
      const attn = scale(this.ls1, this.attn.forward(this.norm1.forward(x) as tf.Tensor3D, rope));
      const h = tf.add(x, attn) as tf.Tensor3D;
      return tf.add(h, scale(this.ls2, this.mlp.forward(this.norm2.forward(h)))) as tf.Tensor3D;
    });
  }
}
