import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Dropout, GroupNorm, Module, scaledDotProductAttention, upsampleNearest2x } from '@svg/nn';

/**
 * The `ddconfig` block of the upstream YAML (`ldm.modules.diffusionmodules.model.Decoder` arguments).
 * `double_z` and `in_channels` belong to the (unused) LDM encoder and are accepted and ignored.
 */
export interface DecoderConfig {
  /** Latent channels (392 for SVG: 384 DINOv3 + 8 residual ViT). */
  z_channels: number;
  /** Output image side; the latent side is `resolution / 2^(ch_mult.length - 1)`. */
  resolution: number;
  /** Output channels (3). */
  out_ch: number;
  /** Base width; level `i` has `ch · ch_mult[i]` channels. */
  ch: number;
  ch_mult: number[];
  num_res_blocks: number;
  /** Resolutions (feature-map sides) at which every ResNet block is followed by self-attention. */
  attn_resolutions: number[];
  /** Dropout inside the ResNet blocks (0 in SVG; active only in training mode). */
  dropout?: number;
  double_z?: boolean;
  in_channels?: number;
}

/** `Normalize(C)` of the LDM code: GroupNorm with 32 groups and eps 1e-6. */
function normalize(channels: number): GroupNorm {
  return new GroupNorm(32, channels, { eps: 1e-6 });
}

/** LDM `ResnetBlock` without timestep embedding: two GroupNorm → swish → 3×3 conv stages plus a shortcut. */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly ninShortcut: Conv2d | null;
  private readonly dropout: Dropout;

  constructor(readonly inChannels: number, readonly outChannels: number, dropout = 0) {
    super();
    this.dropout = this.child('dropout', new Dropout(dropout));
    this.norm1 = this.child('norm1', normalize(inChannels));
    this.conv1 = this.child('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1 }));
    this.norm2 = this.child('norm2', normalize(outChannels));
    this.conv2 = this.child('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1 }));
    this.ninShortcut = inChannels !== outChannels ? this.child('nin_shortcut', new Conv2d(inChannels, outChannels, 1)) : null;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.conv1.forward(this.norm1.forward(x, 'silu') as tf.Tensor4D);
      h = this.norm2.forward(h, 'silu') as tf.Tensor4D;
      h = this.conv2.forward(this.dropout.forward(h) as tf.Tensor4D);
      const shortcut = this.ninShortcut ? this.ninShortcut.forward(x) : x;
      return tf.add(shortcut, h) as tf.Tensor4D;
    });
  }
}

/** LDM "vanilla" `AttnBlock`: single-head self-attention over all positions with 1×1-conv q, k, v, proj_out. */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly projOut: Conv2d;

  constructor(readonly channels: number) {
    super();
    this.norm = this.child('norm', normalize(channels));
    this.q = this.child('q', new Conv2d(channels, channels, 1));
    this.k = this.child('k', new Conv2d(channels, channels, 1));
    this.v = this.child('v', new Conv2d(channels, channels, 1));
    this.projOut = this.child('proj_out', new Conv2d(channels, channels, 1));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const hn = this.norm.forward(x) as tf.Tensor4D;
      // NHWC flattens positions row-major (i = y·W + x), as the reference's reshape of [B, C, H·W].
      const tokens = (conv: Conv2d) => tf.reshape(conv.forward(hn), [b, 1, h * w, c]) as tf.Tensor4D;
      const o = scaledDotProductAttention(tokens(this.q), tokens(this.k), tokens(this.v));
      return tf.add(x, this.projOut.forward(tf.reshape(o, [b, h, w, c]) as tf.Tensor4D)) as tf.Tensor4D;
    });
  }
}

/** Nearest-neighbour 2× upsampling followed by a 3×3 conv (`resamp_with_conv=True`). */
export class Upsample extends Module {
  readonly conv: Conv2d;

  constructor(channels: number) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, channels, 3, { padding: 1 }));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.conv.forward(upsampleNearest2x(x)));
  }
}

/** The decoder's `mid`: ResNet block, attention, ResNet block at the lowest resolution. */
class MidBlock extends Module {
  readonly block1: ResnetBlock;
  readonly attn1: AttnBlock;
  readonly block2: ResnetBlock;

  constructor(channels: number, dropout: number) {
    super();
    this.block1 = this.child('block_1', new ResnetBlock(channels, channels, dropout));
    this.attn1 = this.child('attn_1', new AttnBlock(channels));
    this.block2 = this.child('block_2', new ResnetBlock(channels, channels, dropout));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.block2.forward(this.attn1.forward(this.block1.forward(x))));
  }
}

/** One resolution level of the decoder (`up.{i}`): ResNet blocks, optional attention, optional upsample. */
class UpLevel extends Module {
  readonly blocks: ResnetBlock[];
  readonly attns: AttnBlock[];
  readonly upsample: Upsample | null;

  constructor(blocks: ResnetBlock[], attns: AttnBlock[], upsample: Upsample | null) {
    super();
    this.blocks = this.childList('block', blocks);
    this.attns = this.childList('attn', attns);
    this.upsample = upsample ? this.child('upsample', upsample) : null;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      this.blocks.forEach((block, i) => {
        h = block.forward(h);
        if (this.attns.length > 0) h = this.attns[i].forward(h);
      });
      return this.upsample ? this.upsample.forward(h) : h;
    });
  }
}

/**
 * The LDM convolutional decoder (`Decoder` of `ldm/modules/diffusionmodules/model.py`, no tanh, head applied),
 * on NHWC tensors: latent `[B, h, w, z_channels]` → image `[B, h·2^(L-1), w·2^(L-1), out_ch]`. Parameter names
 * are the upstream ones (`conv_in`, `mid.block_1`, `up.{level}.block.{i}`, ...).
 */
export class LdmDecoder extends Module {
  readonly config: Readonly<DecoderConfig>;
  readonly convIn: Conv2d;
  readonly mid: MidBlock;
  /** Indexed by level (0 = full resolution); executed from the last level down to 0. */
  readonly up: UpLevel[];
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(config: DecoderConfig) {
    super();
    validateDecoderConfig(config);
    this.config = Object.freeze({ ...config, ch_mult: [...config.ch_mult], attn_resolutions: [...config.attn_resolutions] });
    const { ch, ch_mult: mult, num_res_blocks: nBlocks, attn_resolutions: attnRes, dropout = 0 } = config;
    const levels = mult.length;
    let blockIn = ch * mult[levels - 1];
    let res = config.resolution / 2 ** (levels - 1);
    this.convIn = this.child('conv_in', new Conv2d(config.z_channels, blockIn, 3, { padding: 1 }));
    this.mid = this.child('mid', new MidBlock(blockIn, dropout));

    const up: UpLevel[] = new Array(levels);
    for (let level = levels - 1; level >= 0; level--) {
      const blockOut = ch * mult[level];
      const blocks: ResnetBlock[] = [];
      const attns: AttnBlock[] = [];
      for (let i = 0; i <= nBlocks; i++) {
        blocks.push(new ResnetBlock(blockIn, blockOut, dropout));
        blockIn = blockOut;
        if (attnRes.includes(res)) attns.push(new AttnBlock(blockIn));
      }
      up[level] = new UpLevel(blocks, attns, level !== 0 ? new Upsample(blockIn) : null);
      if (level !== 0) res *= 2;
    }
    this.up = this.childList('up', up);
    this.normOut = this.child('norm_out', normalize(blockIn));
    this.convOut = this.child('conv_out', new Conv2d(blockIn, config.out_ch, 3, { padding: 1 }));
  }

  /** Side of the latent grid this config was designed for (`resolution / 2^(levels-1)`); any size works. */
  get latentSize(): number {
    return this.config.resolution / 2 ** (this.config.ch_mult.length - 1);
  }

  /** Everything up to (not including) `conv_out`: `swish(norm_out(h))`. Useful for last-layer gradients. */
  forwardFeatures(z: tf.Tensor4D): tf.Tensor4D {
    if (z.rank !== 4 || z.shape[3] !== this.config.z_channels) {
      throw new Error(`decoder expects a latent [B, H, W, ${this.config.z_channels}] (NHWC), got [${z.shape}]`);
    }
    return tf.tidy(() => {
      let h = this.convIn.forward(z);
      h = this.mid.forward(h);
      for (let level = this.up.length - 1; level >= 0; level--) h = this.up[level].forward(h);
      return this.normOut.forward(h, 'silu') as tf.Tensor4D;
    });
  }

  /** Latent `[B, h, w, z_channels]` → image `[B, H, W, out_ch]` (unbounded: no tanh, as upstream). */
  forward(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.convOut.forward(this.forwardFeatures(z)));
  }

  /**
   * {@link forward} in stages — `conv_in` + `mid`, each up level, `norm_out` + `conv_out` — waiting after each until
   * the backend has computed it (one value is read back) and reporting `onStage(done, total)`: progress for the
   * seconds a large decode takes on a slow GPU. The same operations as `forward`, so the same result.
   */
  async forwardInStages(z: tf.Tensor4D, onStage: (done: number, total: number) => void | Promise<void>): Promise<tf.Tensor4D> {
    if (z.rank !== 4 || z.shape[3] !== this.config.z_channels) {
      throw new Error(`decoder expects a latent [B, H, W, ${this.config.z_channels}] (NHWC), got [${z.shape}]`);
    }
    const stages: ((h: tf.Tensor4D) => tf.Tensor4D)[] = [
      (h) => this.mid.forward(this.convIn.forward(h)),
      ...Array.from({ length: this.up.length }, (_, i) => (h: tf.Tensor4D) => this.up[this.up.length - 1 - i].forward(h)),
      (h) => this.convOut.forward(this.normOut.forward(h, 'silu') as tf.Tensor4D),
    ];
    let h = z;
    for (let i = 0; i < stages.length; i++) {
      const next = tf.tidy(() => stages[i](h));
      if (h !== z) h.dispose();
      h = next;
      try {
        const one = tf.slice(h, [0, 0, 0, 0], [1, 1, 1, 1]);
        await one.data();
        one.dispose();
        await onStage(i + 1, stages.length);
      } catch (e) {
        h.dispose();
        throw e;
      }
    }
    return h;
  }
}

function validateDecoderConfig(c: DecoderConfig): void {
  const problems: string[] = [];
  for (const key of ['z_channels', 'resolution', 'out_ch', 'ch', 'num_res_blocks'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < (key === 'num_res_blocks' ? 0 : 1)) problems.push(`${key} must be a positive integer (got ${c[key]})`);
  }
  if (!Array.isArray(c.ch_mult) || c.ch_mult.length === 0) problems.push('ch_mult must be a non-empty list');
  else {
    const widths = c.ch_mult.map((m) => c.ch * m);
    const bad = widths.filter((w) => w % 32 !== 0);
    if (bad.length > 0) problems.push(`every level width ch·ch_mult must be a multiple of 32 (GroupNorm(32)); got ${widths.join(', ')}`);
    if (c.resolution % 2 ** (c.ch_mult.length - 1) !== 0) problems.push(`resolution ${c.resolution} is not divisible by 2^${c.ch_mult.length - 1}`);
  }
  if (!Array.isArray(c.attn_resolutions)) problems.push('attn_resolutions must be a list');
  if (problems.length > 0) throw new Error(`invalid decoder config (ddconfig): ${problems.join('; ')}`);
}
