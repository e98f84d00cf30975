import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Dropout, LayerNorm, Linear, Module, type Parameter, gelu, init } from '@svg/nn';
import { Container } from './container';

/** Shape of the residual ("extra") ViT: torchvision `VisionTransformer` as `create_small_vit_s` builds it. */
export interface ResidualVitConfig {
  /** Input side; the input must be exactly `imageSize × imageSize` (torchvision asserts it). Default 256. */
  imageSize: number;
  patchSize: number;
  /** Encoder layers (6 upstream; the fixtures use fewer). */
  numLayers: number;
  numHeads: number;
  hiddenDim: number;
  mlpDim: number;
  /** Channels of the head (`extra_vit_config.output_dim`, 8). */
  outputDim: number;
  /** Dropout after the position embedding, in the MLP and after attention (training only). */
  dropout: number;
  /** Dropout on the attention weights (training only). */
  attentionDropout: number;
}

/** `create_small_vit_s(output_dim=8)` of the reference. */
export const RESIDUAL_VIT_DEFAULTS: Readonly<ResidualVitConfig> = Object.freeze({
  imageSize: 256,
  patchSize: 16,
  numLayers: 6,
  numHeads: 8,
  hiddenDim: 384,
  mlpDim: 1536,
  outputDim: 8,
  dropout: 0.1,
  attentionDropout: 0.1,
});

/** `nn.MultiheadAttention` (batch first) with its packed `in_proj_weight` = [Wq; Wk; Wv] and `out_proj`. */
class MultiheadSelfAttention extends Module {
  readonly inProjWeight: Parameter;
  readonly inProjBias: Parameter;
  readonly outProj: Linear;
  private readonly attnDrop: Dropout;

  constructor(readonly dim: number, readonly numHeads: number, attentionDropout: number) {
    super();
    this.inProjWeight = this.param('in_proj_weight', [dim, 3 * dim], init.xavierUniform(dim, 3 * dim), { layout: 'linear' });
    this.inProjBias = this.param('in_proj_bias', [3 * dim], init.zeros);
    this.outProj = this.child('out_proj', new Linear(dim, dim, { biasInit: init.zeros }));
    this.attnDrop = this.child('attn_drop', new Dropout(attentionDropout));
  }

  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = x.shape;
      const hd = d / this.numHeads;
      const flat = tf.reshape(x, [b * t, d]) as tf.Tensor2D;
      const qkv = tf.fused.matMul({ a: flat, b: this.inProjWeight.value as tf.Tensor2D, bias: this.inProjBias.value });
      const heads = tf.transpose(tf.reshape(qkv, [b, t, 3, this.numHeads, hd]), [2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(heads) as tf.Tensor4D[];
      const scores = tf.matMul(tf.mul(q, 1 / Math.sqrt(hd)) as tf.Tensor4D, k, false, true);
      const weights = this.attnDrop.forward(tf.softmax(scores)) as tf.Tensor4D;
      const o = tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]);
      return this.outProj.forward(tf.reshape(o, [b, t, d])) as tf.Tensor3D;
    });
  }
}

/** torchvision `MLPBlock`: Linear (`0`) → GELU (erf) → Dropout → Linear (`3`) → Dropout. */
class MlpBlock extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly drop: Dropout;

  constructor(dim: number, hidden: number, dropout: number) {
    super();
    // torchvision: Xavier-uniform weights, biases N(0, 1e-6²).
    this.fc1 = this.child('0', new Linear(dim, hidden, { weightInit: init.xavierUniform(dim, hidden), biasInit: init.normal(1e-6) }));
    this.fc2 = this.child('3', new Linear(hidden, dim, { weightInit: init.xavierUniform(hidden, dim), biasInit: init.normal(1e-6) }));
    this.drop = this.child('drop', new Dropout(dropout));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.drop.forward(this.fc2.forward(this.drop.forward(gelu(this.fc1.forward(x))))));
  }
}

/** torchvision `EncoderBlock`: pre-norm attention and MLP, LayerNorm eps 1e-6. */
class EncoderBlock extends Module {
  readonly ln1: LayerNorm;
  readonly selfAttention: MultiheadSelfAttention;
  readonly ln2: LayerNorm;
  readonly mlp: MlpBlock;
  private readonly drop: Dropout;

  constructor(c: ResidualVitConfig) {
    super();
    this.ln1 = this.child('ln_1', new LayerNorm(c.hiddenDim, { eps: 1e-6 }));
    this.selfAttention = this.child('self_attention', new MultiheadSelfAttention(c.hiddenDim, c.numHeads, c.attentionDropout));
    this.drop = this.child('drop', new Dropout(c.dropout));
    this.ln2 = this.child('ln_2', new LayerNorm(c.hiddenDim, { eps: 1e-6 }));
    this.mlp = this.child('mlp', new MlpBlock(c.hiddenDim, c.mlpDim, c.dropout));
  }

  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const y = tf.add(x, this.drop.forward(this.selfAttention.forward(this.ln1.forward(x) as tf.Tensor3D)));
      return tf.add(y, this.mlp.forward(this.ln2.forward(y))) as tf.Tensor3D;
    });
  }
}

/** torchvision `Encoder`: `pos_embedding`, dropout, `layers.encoder_layer_{i}`, final `ln`. */
class VitEncoder extends Module {
  readonly posEmbedding: Parameter;
  readonly layers: EncoderBlock[];
  readonly ln: LayerNorm;
  private readonly drop: Dropout;

  constructor(c: ResidualVitConfig, seqLength: number) {
    super();
    this.posEmbedding = this.param('pos_embedding', [1, seqLength, c.hiddenDim], init.normal(0.02));
    this.drop = this.child('drop', new Dropout(c.dropout));
    const container = this.child('layers', new Container());
    this.layers = Array.from({ length: c.numLayers }, (_, i) => container.add(`encoder_layer_${i}`, new EncoderBlock(c)));
    this.ln = this.child('ln', new LayerNorm(c.hiddenDim, { eps: 1e-6 }));
  }

  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      let h = this.drop.forward(tf.add(x, this.posEmbedding.value)) as tf.Tensor3D;
      for (const layer of this.layers) h = layer.forward(h);
      return this.ln.forward(h) as tf.Tensor3D;
    });
  }
}


/** The replaced head: `Sequential(Linear(d, d), GELU, Linear(d, output_dim))` with keys `heads.0` / `heads.2`. */
class Heads extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, outputDim: number) {
    super();
    this.fc1 = this.child('0', new Linear(dim, dim));
    this.fc2 = this.child('2', new Linear(dim, outputDim));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(gelu(this.fc1.forward(x))));
  }
}

/**
 * The SVG residual ViT (`extra_vit`): a torchvision ViT whose patch tokens (class token dropped after the final
 * LayerNorm) go through a small head to `outputDim` channels. Input: ImageNet-normalised NHWC images
 * `[B, S, S, 3]` with `S = imageSize`; output: tokens `[B, (S/p)², outputDim]`, row-major over the patch grid.
 * Parameter names are torchvision's (`conv_proj`, `class_token`, `encoder.layers.encoder_layer_{i}.ln_1`, ...).
 */
export class ResidualVit extends Module {
  readonly config: Readonly<ResidualVitConfig>;
  readonly classToken: Parameter;
  readonly convProj: Conv2d;
  readonly encoder: VitEncoder;
  readonly heads: Heads;

  constructor(config: Partial<ResidualVitConfig> = {}) {
    super();
    const c: ResidualVitConfig = { ...RESIDUAL_VIT_DEFAULTS, ...config };
    if (c.imageSize % c.patchSize !== 0) throw new Error(`residual ViT: image size ${c.imageSize} is not a multiple of patch size ${c.patchSize}`);
    if (c.hiddenDim % c.numHeads !== 0) throw new Error(`residual ViT: hidden dim ${c.hiddenDim} is not divisible by ${c.numHeads} heads`);
    this.config = Object.freeze(c);
    const fanIn = 3 * c.patchSize * c.patchSize;
    this.classToken = this.param('class_token', [1, 1, c.hiddenDim], init.zeros);
    this.convProj = this.child(
      'conv_proj',
      new Conv2d(3, c.hiddenDim, c.patchSize, { stride: c.patchSize, weightInit: init.truncatedNormal(Math.sqrt(1 / fanIn)), biasInit: init.zeros }),
    );
    this.encoder = this.child('encoder', new VitEncoder(c, (c.imageSize / c.patchSize) ** 2 + 1));
    this.heads = this.child('heads', new Heads(c.hiddenDim, c.outputDim));
  }

  /** ImageNet-normalised images `[B, S, S, 3]` → patch features `[B, (S/p)², outputDim]`. */
  forward(x: tf.Tensor4D): tf.Tensor3D {
    const { imageSize: s, patchSize: p, hiddenDim: d } = this.config;
    if (x.rank !== 4 || x.shape[1] !== s || x.shape[2] !== s || x.shape[3] !== 3) {
      throw new Error(`residual ViT expects images [B, ${s}, ${s}, 3] (NHWC), got [${x.shape}]`);
    }
    return tf.tidy(() => {
      const b = x.shape[0];
      const n = (s / p) ** 2;
      const patches = tf.reshape(this.convProj.forward(x), [b, n, d]);
      const cls = tf.mul(this.classToken.value, tf.ones([b, 1, 1]));
      const encoded = this.encoder.forward(tf.concat([cls, patches], 1) as tf.Tensor3D);
      const tokens = tf.slice(encoded, [0, 1, 0], [b, n, d]);
      return this.heads.forward(tokens) as tf.Tensor3D;
    });
  }
}
