/** FFN kinds of upstream `ffn_layer_dict`: GELU MLP, or SwiGLU with the hidden size rounded up to 8/32/64/128. */
export type FfnLayer = 'mlp' | 'swiglu' | 'swiglu32' | 'swiglu64' | 'swiglu128';

/** Norm kinds of upstream `norm_layer_dict`: `layernorm` has eps 1e-6, `layernormbf16` (all hub ViTs) eps 1e-5. */
export type NormLayer = 'layernorm' | 'layernormbf16' | 'rmsnorm';

/** How RoPE patch coordinates are normalised: per axis (`separate`, all hub ViTs) or by min/max of H and W. */
export type RopeNormalizeCoords = 'min' | 'max' | 'separate';

/**
 * Constructor arguments of upstream `DinoVisionTransformer`, camelCased (`embed_dim` → `embedDim`,
 * `n_storage_tokens` → `nStorageTokens`, ...). `imgSize` is recorded only: the forward pass accepts any size.
 */
export interface Dinov3Config {
  imgSize: number;
  patchSize: number;
  inChans: number;
  /** RoPE base (100 for hub ViTs); `null` to use `posEmbedRopeMinPeriod`/`MaxPeriod` instead. */
  posEmbedRopeBase: number | null;
  posEmbedRopeMinPeriod: number | null;
  posEmbedRopeMaxPeriod: number | null;
  posEmbedRopeNormalizeCoords: RopeNormalizeCoords;
  /** Training-mode coordinate augmentations (inactive in eval mode). */
  posEmbedRopeShiftCoords: number | null;
  posEmbedRopeJitterCoords: number | null;
  posEmbedRopeRescaleCoords: number | null;
  /**
   * Dtype the `periods` buffer is initialised in when no checkpoint supplies it: `bf16` rounds the computed
   * periods to bfloat16 (what the released checkpoints store). The sin/cos tables are always float32.
   */
  posEmbedRopeDtype: 'fp32' | 'bf16' | 'fp16';
  embedDim: number;
  depth: number;
  numHeads: number;
  ffnRatio: number;
  qkvBias: boolean;
  /** Recorded only: stochastic depth is a training feature and is not implemented. */
  dropPathRate: number;
  /** LayerScale init value; `null` removes LayerScale (`ls1`/`ls2` become identities). */
  layerscaleInit: number | null;
  normLayer: NormLayer;
  ffnLayer: FfnLayer;
  ffnBias: boolean;
  projBias: boolean;
  nStorageTokens: number;
  /** qkv is a `LinearKMaskedBias`: effective bias = `bias ⊙ bias_mask` (buffer, 1/0/1 over q/k/v). */
  maskKBias: boolean;
  untieClsAndPatchNorms: boolean;
  /** Adds `local_cls_norm` (used only in training; present in ViT-7B and SAT-493M ViT-L checkpoints). */
  untieGlobalAndLocalClsNorm: boolean;
}

/** Upstream `DinoVisionTransformer.__init__` defaults: what a partial config is completed with. */
export const CONSTRUCTOR_DEFAULTS: Readonly<Dinov3Config> = Object.freeze({
  imgSize: 224,
  patchSize: 16,
  inChans: 3,
  posEmbedRopeBase: 100,
  posEmbedRopeMinPeriod: null,
  posEmbedRopeMaxPeriod: null,
  posEmbedRopeNormalizeCoords: 'separate',
  posEmbedRopeShiftCoords: null,
  posEmbedRopeJitterCoords: null,
  posEmbedRopeRescaleCoords: null,
  posEmbedRopeDtype: 'bf16',
  embedDim: 768,
  depth: 12,
  numHeads: 12,
  ffnRatio: 4,
  qkvBias: true,
  dropPathRate: 0,
  layerscaleInit: null,
  normLayer: 'layernorm',
  ffnLayer: 'mlp',
  ffnBias: true,
  projBias: true,
  nStorageTokens: 0,
  maskKBias: false,
  untieClsAndPatchNorms: false,
  untieGlobalAndLocalClsNorm: false,
});

/** Keyword arguments every hub ViT (`dinov3/hub/backbones.py`) shares. */
const HUB_COMMON: Dinov3Config = {
  ...CONSTRUCTOR_DEFAULTS,
  posEmbedRopeBase: 100,
  posEmbedRopeNormalizeCoords: 'separate',
  posEmbedRopeRescaleCoords: 2,
  posEmbedRopeDtype: 'fp32',
  layerscaleInit: 1e-5,
  normLayer: 'layernormbf16',
  nStorageTokens: 4,
  maskKBias: true,
};

const hub = (c: Partial<Dinov3Config>): Readonly<Dinov3Config> => Object.freeze({ ...HUB_COMMON, ...c });

/** The hub ViT entry points (`dinov3_<name>`), with exactly the upstream keyword arguments. */
export const DINOV3_PRESETS = Object.freeze({
  vits16: hub({ embedDim: 384, depth: 12, numHeads: 6, ffnRatio: 4, ffnLayer: 'mlp' }),
  vits16plus: hub({ embedDim: 384, depth: 12, numHeads: 6, ffnRatio: 6, ffnLayer: 'swiglu' }),
  vitb16: hub({ embedDim: 768, depth: 12, numHeads: 12, ffnRatio: 4, ffnLayer: 'mlp' }),
  /** LVD-1689M weights; the SAT-493M file also has `local_cls_norm` (set `untieGlobalAndLocalClsNorm`). */
  vitl16: hub({ embedDim: 1024, depth: 24, numHeads: 16, ffnRatio: 4, ffnLayer: 'mlp' }),
  vitl16plus: hub({ embedDim: 1024, depth: 24, numHeads: 16, ffnRatio: 6, ffnLayer: 'swiglu' }),
  vith16plus: hub({ embedDim: 1280, depth: 32, numHeads: 20, ffnRatio: 6, ffnLayer: 'swiglu' }),
  vit7b16: hub({
    embedDim: 4096,
    depth: 40,
    numHeads: 32,
    ffnRatio: 3,
    ffnLayer: 'swiglu64',
    qkvBias: false,
    untieGlobalAndLocalClsNorm: true,
  }),
});

export type Dinov3PresetName = keyof typeof DINOV3_PRESETS;

/** Names of the hub presets. */
export const DINOV3_PRESET_NAMES = Object.keys(DINOV3_PRESETS) as Dinov3PresetName[];

/** A preset name (optionally with the hub's `dinov3_` prefix), or a partial config completed with the upstream constructor defaults. */
export type Dinov3ConfigInput = Dinov3PresetName | `dinov3_${Dinov3PresetName}` | Partial<Dinov3Config>;

/** Completes a preset name or partial config (with optional overrides) into a checked full config. */
export function resolveConfig(input: Dinov3ConfigInput, overrides: Partial<Dinov3Config> = {}): Dinov3Config {
  let base: Dinov3Config;
  if (typeof input === 'string') {
    const preset = (DINOV3_PRESETS as Record<string, Dinov3Config>)[input.replace(/^dinov3_/, '')];
    if (!preset) throw new Error(`unknown DINOv3 preset '${input}' (known: ${DINOV3_PRESET_NAMES.join(', ')})`);
    base = preset;
  } else {
    base = { ...CONSTRUCTOR_DEFAULTS, ...input };
  }
  const config: Dinov3Config = { ...base, ...overrides };
  validate(config);
  return config;
}

function validate(c: Dinov3Config): void {
  const positiveInt = (name: keyof Dinov3Config) => {
    const v = c[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`DINOv3 config: ${name} must be a positive integer, got ${v}`);
  };
  (['patchSize', 'inChans', 'embedDim', 'depth', 'numHeads'] as const).forEach(positiveInt);
  if (!Number.isInteger(c.nStorageTokens) || c.nStorageTokens < 0) throw new Error(`DINOv3 config: nStorageTokens must be >= 0, got ${c.nStorageTokens}`);
  if (c.embedDim % c.numHeads !== 0) throw new Error(`DINOv3 config: embedDim ${c.embedDim} is not divisible by numHeads ${c.numHeads}`);
  if ((c.embedDim / c.numHeads) % 4 !== 0) throw new Error(`DINOv3 config: head dim ${c.embedDim / c.numHeads} must be a multiple of 4 for 2-D RoPE`);
  if (c.posEmbedRopeBase === null && (c.posEmbedRopeMinPeriod === null || c.posEmbedRopeMaxPeriod === null)) {
    throw new Error('DINOv3 config: give posEmbedRopeBase, or both posEmbedRopeMinPeriod and posEmbedRopeMaxPeriod');
  }
  if (!(c.ffnLayer in SWIGLU_ALIGN) && c.ffnLayer !== 'mlp') throw new Error(`DINOv3 config: unknown ffnLayer '${c.ffnLayer}'`);
  if (!(c.normLayer in NORM_EPS)) throw new Error(`DINOv3 config: unknown normLayer '${c.normLayer}'`);
}

const SWIGLU_ALIGN: Record<string, number> = { swiglu: 8, swiglu32: 32, swiglu64: 64, swiglu128: 128 };

/** Epsilon of each norm kind. */
export const NORM_EPS: Record<NormLayer, number> = { layernorm: 1e-6, layernormbf16: 1e-5, rmsnorm: 1e-5 };

/** Hidden width of a block's FFN: `int(D·ffnRatio)` for the MLP; for SwiGLU `int(that·2/3)` rounded up to the alignment. */
export function ffnHiddenDim(c: Pick<Dinov3Config, 'embedDim' | 'ffnRatio' | 'ffnLayer'>): number {
  const hidden = Math.trunc(c.embedDim * c.ffnRatio);
  if (c.ffnLayer === 'mlp') return hidden;
  const align = SWIGLU_ALIGN[c.ffnLayer];
  const d = Math.trunc((hidden * 2) / 3);
  return Math.ceil(d / align) * align;
}
