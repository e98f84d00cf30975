/**
 * DiT configuration: the upstream constructor's arguments (`models/models_SVG.py::DiT`) in camelCase.
 */
export interface DiTConfig {
  /**
   * Latent grid side: the model takes `inputSize²` tokens (16 → 256 for SVG). Upstream ignores it and hard-codes
   * 16 (defect D11); we honour it, which is the same for every official config, and lets small models use small grids.
   */
  inputSize: number;
  /** Only widens the final layer to `patchSize² · outChannels` (upstream never patchifies). SVG uses 1. */
  patchSize: number;
  /** Channels of each input token (392 for SVG: 384 DINOv3 + 8 residual). */
  inChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  /** MLP hidden width = `trunc(hiddenSize · mlpRatio)`. */
  mlpRatio: number;
  /** Label dropout probability in training; when > 0 the label table has an extra "null" row `numClasses`. */
  classDropoutProb: number;
  numClasses: number;
  /** Doubles the output channels (velocity + an unused sigma half, upstream's default). */
  learnSigma: boolean;
  /** Attention head width; `null` means `hiddenSize / numHeads` (the only value supported here). */
  headDim: number | null;
  /**
   * Gated SiLU MLP instead of the tanh-GELU one. Upstream references an undefined `MoeMLP` (defect D9); this
   * builds the same author's `MoeMLP` from the DiffMoE code: `down_proj(silu(gate_proj(x)) · up_proj(x))`, no biases.
   */
  useSwiglu: boolean;
  /** LayerNorm (eps 1e-5, affine) over each head's q and k. */
  qkNorm: boolean;
}

/** Anything not given takes the value of SVG's official model (`config/example_svg_xl.yaml`, DiT-XL). */
export type DiTConfigInput = Partial<DiTConfig>;

/**
 * SVG's DiT-XL (`config/example_svg_xl.yaml`). These defaults differ from the bare upstream constructor's
 * (`input_size=32, patch_size=2, in_channels=16, qk_norm=False`), which SVG never uses.
 */
export const SVG_DIT_XL: Readonly<DiTConfig> = Object.freeze({
  inputSize: 16,
  patchSize: 1,
  inChannels: 392,
  hiddenSize: 1152,
  depth: 28,
  numHeads: 16,
  mlpRatio: 4,
  classDropoutProb: 0.1,
  numClasses: 1000,
  learnSigma: true,
  headDim: null,
  useSwiglu: false,
  qkNorm: true,
});

export type DiTPresetName = 'S' | 'B' | 'L' | 'XL';

/** Standard DiT widths (DiT paper naming; only XL is in the SVG repository), otherwise SVG's settings. */
export const DIT_PRESETS: Readonly<Record<DiTPresetName, Readonly<DiTConfig>>> = Object.freeze({
  S: Object.freeze({ ...SVG_DIT_XL, hiddenSize: 384, depth: 12, numHeads: 6 }),
  B: Object.freeze({ ...SVG_DIT_XL, hiddenSize: 768, depth: 12, numHeads: 12 }),
  L: Object.freeze({ ...SVG_DIT_XL, hiddenSize: 1024, depth: 24, numHeads: 16 }),
  XL: SVG_DIT_XL,
});

/** Number of tokens of SVG's 16×16 latent grid (256×256 images); a model takes `inputSize²` (see {@link numTokens}). */
export const NUM_TOKENS = 256;

/** Tokens a model of this config takes: `inputSize²`. */
export function numTokens(config: Pick<DiTConfig, 'inputSize'>): number {
  return config.inputSize * config.inputSize;
}
/** Width of the sinusoidal timestep features. */
export const FREQUENCY_EMBEDDING_SIZE = 256;

/** A full, validated config from a preset name or a partial config (missing fields from {@link SVG_DIT_XL}). */
export function resolveConfig(config: DiTConfigInput | DiTPresetName = {}): DiTConfig {
  const base = typeof config === 'string' ? presetOf(config) : { ...SVG_DIT_XL, ...stripUndefined(config) };
  const c: DiTConfig = { ...base };
  for (const key of ['inputSize', 'patchSize', 'inChannels', 'hiddenSize', 'depth', 'numHeads', 'numClasses'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < (key === 'depth' || key === 'numClasses' ? 0 : 1)) {
      throw new Error(`DiT config: ${key} must be a positive integer, got ${c[key]}`);
    }
  }
  if (!(c.mlpRatio > 0)) throw new Error(`DiT config: mlpRatio must be > 0, got ${c.mlpRatio}`);
  if (!(c.classDropoutProb >= 0 && c.classDropoutProb < 1)) {
    throw new Error(`DiT config: classDropoutProb must be in [0, 1), got ${c.classDropoutProb}`);
  }
  if (c.hiddenSize % c.numHeads !== 0) {
    throw new Error(`DiT config: hiddenSize ${c.hiddenSize} is not divisible by numHeads ${c.numHeads}`);
  }
  if (c.headDim !== null && c.headDim !== c.hiddenSize / c.numHeads) {
    throw new Error(`DiT config: headDim ${c.headDim} ≠ hiddenSize/numHeads = ${c.hiddenSize / c.numHeads} is not supported`);
  }
  if (c.hiddenSize % 4 !== 0) throw new Error(`DiT config: hiddenSize ${c.hiddenSize} must be a multiple of 4 (2-D sin-cos table)`);
  return c;
}

/** The upstream snake_case keys (as in the yaml `model` section or a fixture's config) → {@link DiTConfig}. */
export function configFromUpstream(upstream: Record<string, unknown>): DiTConfig {
  const names: Record<string, keyof DiTConfig> = {
    input_size: 'inputSize',
    patch_size: 'patchSize',
    in_channels: 'inChannels',
    hidden_size: 'hiddenSize',
    depth: 'depth',
    num_heads: 'numHeads',
    mlp_ratio: 'mlpRatio',
    class_dropout_prob: 'classDropoutProb',
    num_classes: 'numClasses',
    learn_sigma: 'learnSigma',
    head_dim: 'headDim',
    use_swiglu: 'useSwiglu',
    qk_norm: 'qkNorm',
  };
  const ignored = new Set(['target', 'ckpt']);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(upstream)) {
    if (ignored.has(key)) continue;
    const name = names[key];
    if (!name) throw new Error(`DiT config: unknown upstream key "${key}" (known: ${Object.keys(names).join(', ')})`);
    out[name] = value;
  }
  return resolveConfig(out as DiTConfigInput);
}

/** Output channels per token: `patchSize² · (learnSigma ? 2 : 1) · inChannels`. */
export function outputWidth(c: DiTConfig): number {
  return c.patchSize * c.patchSize * (c.learnSigma ? 2 : 1) * c.inChannels;
}

/** Rows of the label table: one extra "null" class when label dropout is enabled (upstream `use_cfg_embedding`). */
export function labelTableSize(c: DiTConfig): number {
  return c.numClasses + (c.classDropoutProb > 0 ? 1 : 0);
}

export function mlpHiddenSize(c: DiTConfig): number {
  return Math.trunc(c.hiddenSize * c.mlpRatio);
}

/**
 * Floating-point operations of one forward pass: 2 per multiply-add of every matrix product (token projections,
 * attention scores and mixing, MLPs, adaLN and timestep linears). Element-wise work (norms, softmax, activations)
 * and the label lookup are not counted.
 */
export function forwardFlops(config: DiTConfigInput | DiTPresetName, batch: number, tokens = NUM_TOKENS): number {
  const c = resolveConfig(config);
  const [B, T, D, M] = [batch, tokens, c.hiddenSize, mlpHiddenSize(c)];
  const mlp = (c.useSwiglu ? 3 : 2) * D * M;
  const perBlock = B * T * (3 * D * D + D * D + mlp) + 2 * B * T * T * D + B * D * 6 * D;
  const embed = B * T * c.inChannels * D + B * (FREQUENCY_EMBEDDING_SIZE * D + D * D);
  const final = B * D * 2 * D + B * T * D * outputWidth(c);
  return 2 * (embed + c.depth * perBlock + final);
}

function presetOf(name: string): DiTConfig {
  const preset = DIT_PRESETS[name as DiTPresetName];
  if (!preset) throw new Error(`unknown DiT preset "${name}" (known: ${Object.keys(DIT_PRESETS).join(', ')})`);
  return { ...preset };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
