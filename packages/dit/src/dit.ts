import * as tf from '@tensorflow/tfjs-core';
import { type Initializer, Linear, Module, type Parameter, SeededRandom, checkpoint, init, setInitSeed } from '@svg/nn';
import { DiTBlock, FinalLayer } from './blocks';
import {
  type DiTConfig,
  type DiTConfigInput,
  type DiTPresetName,
  numTokens,
  labelTableSize,
  mlpHiddenSize,
  outputWidth,
  resolveConfig,
} from './config';
import { type BatchValues, isTensor, LabelEmbedder, sinCosPositionTable, TimestepEmbedder } from './embeddings';

export interface DiTForwardOptions {
  /** Block indices to leave out (upstream `skip`). */
  skip?: readonly number[];
  /** Per-sample flags; samples whose flag is 1 get the null label, in any mode (upstream `force_drop_ids`). */
  forceDropIds?: BatchValues;
}

/**
 * The SVG diffusion transformer (`models/models_SVG.py::DiT`): token sequences `[B, 256, inChannels]` in,
 * `[B, 256, patchSize²·outChannels]` out, conditioned on a continuous time and a class label. Parameter names are
 * the upstream `state_dict` keys. Build it with {@link createDiT} (initialised) or {@link loadDiT} (loaded).
 */
export class DiT extends Module {
  readonly config: DiTConfig;
  /** Fixed sin-cos table `[1, 256, hidden]`; a frozen buffer, saved and loaded like upstream's `pos_embed`. */
  readonly posEmbed: Parameter;
  readonly tEmbedder: TimestepEmbedder;
  readonly yEmbedder: LabelEmbedder;
  readonly blocks: DiTBlock[];
  readonly ln1: Linear;
  readonly finalLayer: FinalLayer;
  /** Host generator of the training-mode label dropout; replace or `setState` it to seed/resume. */
  dropoutRandom = new SeededRandom(0);
  /**
   * Recompute each block in the backward pass instead of keeping its activations (`checkpoint` of `@svg/nn`): about
   * one more forward per training step for a fraction of the memory. Off by default; results are the same.
   */
  gradientCheckpointing = false;

  /** Weights are not initialised here: use {@link createDiT}, {@link DiT.initializeWeights} or a state dict. */
  constructor(config: DiTConfigInput | DiTPresetName = {}) {
    super();
    const c = resolveConfig(config);
    this.config = c;
    const D = c.hiddenSize;
    // Registration order = upstream state_dict order.
    this.posEmbed = this.buffer('pos_embed', [1, numTokens(c), D], (shape) => tf.tensor(sinCosPositionTable(D, c.inputSize), shape));
    this.tEmbedder = this.child('t_embedder', new TimestepEmbedder(D));
    this.yEmbedder = this.child('y_embedder', new LabelEmbedder(c.numClasses, D, c.classDropoutProb));
    const blockOptions = { qkNorm: c.qkNorm, mlpHidden: mlpHiddenSize(c), useSwiglu: c.useSwiglu };
    this.blocks = this.childList(
      'blocks',
      Array.from({ length: c.depth }, () => new DiTBlock(D, c.numHeads, blockOptions)),
    );
    this.ln1 = this.child('ln1', new Linear(c.inChannels, D));
    this.finalLayer = this.child('final_layer', new FinalLayer(D, outputWidth(c)));
  }

  /** Tokens per sample: `inputSize²` (256 for SVG). */
  get numTokens(): number {
    return numTokens(this.config);
  }

  /** Output channels per token (`patchSize² · inChannels · (learnSigma ? 2 : 1)`); velocity = the first `inChannels`. */
  get outputWidth(): number {
    return outputWidth(this.config);
  }

  /**
   * `x` `[B, 256, inChannels]`, `t` `[B]` continuous time (used as is, no ×1000), `y` `[B]` int labels
   * (`numClasses` = null class) → `[B, 256, outputWidth]`.
   *
   * `t` and `y` may be host arrays or tensors. Host timesteps give an exact float64 sinusoid table; tensor timesteps
   * are embedded on the device with a range-reduced polynomial cos/sin (~2e-7, also on WebGPU whose native sin/cos
   * are ~2e-4). Synchronous on every backend and differentiable with respect to the weights and `x`.
   * In training mode (`train()`) labels are dropped to the null class with probability `classDropoutProb`.
   */
  forward(x: tf.Tensor3D, t: BatchValues, y: BatchValues, options: DiTForwardOptions = {}): tf.Tensor3D {
    const [B, T, C] = x.shape;
    if (x.rank !== 3 || T !== this.numTokens || C !== this.config.inChannels) {
      throw new Error(`DiT.forward: x must be [B, ${this.numTokens}, ${this.config.inChannels}], got [${x.shape}]`);
    }
    checkBatch('t', t, B);
    checkBatch('y', y, B);
    if (options.forceDropIds !== undefined) {
      checkBatch('forceDropIds', options.forceDropIds, B);
      if (this.config.classDropoutProb === 0) {
        throw new Error('DiT.forward: forceDropIds needs classDropoutProb > 0 (the null class row exists only then)');
      }
    }
    if (!isTensor(y)) this.checkLabels(y);
    const skip = new Set(options.skip ?? []);
    return tf.tidy(() => {
      let h = tf.add(this.ln1.forward(x), this.posEmbed.value) as tf.Tensor3D;
      const c = tf.add(this.tEmbedder.forward(t), this.yEmbedder.forward(y, this.dropoutRandom, options.forceDropIds)) as tf.Tensor2D;
      this.blocks.forEach((block, i) => {
        if (skip.has(i)) return;
        h = this.gradientCheckpointing ? (checkpoint(block, (hh, cc) => block.forward(hh as tf.Tensor3D, cc as tf.Tensor2D), [h, c]) as tf.Tensor3D) : block.forward(h, c);
      });
      return this.finalLayer.forward(h, c);
    });
  }

  /**
   * Upstream `initialize_weights` (spec §3.10): Xavier-uniform linears with zero biases, N(0, 0.02²) label table
   * and timestep MLP weights, zero adaLN modulations and final linear, sin-cos `pos_embed`, unit q/k norms. Every
   * weight is drawn now, in `state_dict` order, from the {@link setInitSeed} generator (seeded with `seed` if
   * given), so the same seed gives the same model on every backend. At init the output is exactly zero.
   */
  initializeWeights(seed?: number): this {
    if (seed !== undefined) setInitSeed(seed);
    for (const [name, p] of this.namedParameters()) {
      const initializer = upstreamInitializer(name, p, this.config);
      p.set(tf.tidy(() => initializer(p.shape)));
    }
    return this;
  }

  private checkLabels(y: ArrayLike<number>): void {
    const rows = labelTableSize(this.config);
    for (let i = 0; i < y.length; i++) {
      if (!Number.isInteger(y[i]) || y[i] < 0 || y[i] >= rows) {
        throw new Error(`DiT.forward: label y[${i}] = ${y[i]} is outside the label table [0, ${rows - 1}]`);
      }
    }
  }
}

const NORMAL_002 = new Set(['y_embedder.embedding_table.weight', 't_embedder.mlp.0.weight', 't_embedder.mlp.2.weight']);

function upstreamInitializer(name: string, p: Parameter, config: DiTConfig): Initializer {
  if (name === 'pos_embed') return (shape) => tf.tensor(sinCosPositionTable(config.hiddenSize, config.inputSize), shape);
  if (name.includes('adaLN_modulation.') || name.startsWith('final_layer.linear.')) return init.zeros;
  if (NORMAL_002.has(name)) return init.normal(0.02);
  if (p.layout === 'linear') return init.xavierUniform(p.shape[0], p.shape[1]); // stored [in, out]
  if (name.endsWith('_norm.weight')) return init.ones;
  if (name.endsWith('.bias')) return init.zeros;
  throw new Error(`DiT.initializeWeights: no rule for parameter ${name}`);
}

function checkBatch(name: string, v: BatchValues, batch: number): void {
  const n = isTensor(v) ? (v.rank === 1 ? v.shape[0] : -1) : v.length;
  if (n !== batch) {
    throw new Error(`DiT.forward: ${name} must hold one value per sample (${batch}), got ${isTensor(v) ? `shape [${v.shape}]` : `${v.length} values`}`);
  }
}

/**
 * A DiT with upstream's from-scratch initialisation ({@link DiT.initializeWeights}), seeded with `seed` when given
 * (else the current {@link setInitSeed} generator). `config` is a preset name or a partial config whose missing
 * fields come from SVG's DiT-XL.
 *
 * @example
 * const model = createDiT('S', { seed: 0 });
 * const v = model.forward(tf.randomNormal([2, 256, 392]), [0.3, 0.9], [207, 1000]);
 */
export function createDiT(config: DiTConfigInput | DiTPresetName = {}, options: { seed?: number } = {}): DiT {
  return new DiT(config).initializeWeights(options.seed);
}
