import * as tf from '@tensorflow/tfjs-core';
import { LayerNorm, Module, RMSNorm, init, loadStateDict, type LoadStateDictResult, type Parameter } from '@svg/nn';
import { type RawTensor, type StateDictLike, toFloat32, toStateDict } from '@svg/weights';
import { type Dinov3Config, type Dinov3ConfigInput, resolveConfig } from './config';
import { fromHuggingFace, isHuggingFaceStateDict } from './hf';
import { PatchEmbed, SelfAttentionBlock, kBiasMask, makeNorm } from './layers';
import { RopePositionEmbedding, ropePeriods } from './rope';

/** Outputs of {@link Dinov3ViT.forwardFeatures} (upstream `forward_features` keys in camelCase). */
export interface Dinov3Features {
  /** `x_norm_clstoken`: final-normed class token `[B, D]`. */
  clsToken: tf.Tensor2D;
  /** `x_storage_tokens`: final-normed storage (register) tokens `[B, R, D]`. */
  storageTokens: tf.Tensor3D;
  /** `x_norm_patchtokens`: final-normed patch tokens `[B, h·w, D]`, row-major over the `h × w` patch grid. */
  patchTokens: tf.Tensor3D;
  /** `x_prenorm`: all tokens after the last block, before the final norm `[B, 1 + R + h·w, D]`. */
  prenorm: tf.Tensor3D;
}

/** Options of {@link Dinov3ViT.loadStateDict}. */
export interface Dinov3LoadOptions {
  /** Every parameter must be present and no key left over (default true). `periods`/`bias_mask` may be absent. */
  strict?: boolean;
  /**
   * Only keys under this prefix are used, with it removed (e.g. `encoder.` in an SVG autoencoder checkpoint).
   * Default: none, or the prefix in front of the only `cls_token` key when the dict has no top-level one.
   */
  prefix?: string;
  /**
   * RoPE periods to use when the state dict has no `rope_embed.periods` (Hugging Face files never do):
   * `bf16` reproduces the official checkpoints (their stored periods are bfloat16-rounded), `exact` the
   * Hugging Face / transformers.js numerics. Default: `bf16` for Hugging Face dicts, else the config's
   * `posEmbedRopeDtype`.
   */
  ropePeriods?: 'bf16' | 'exact';
}

/** Options of {@link Dinov3ViT.getIntermediateLayers} (upstream `get_intermediate_layers`). */
export interface IntermediateLayersOptions {
  /** The last `n` blocks, or these block indices. Default 1. */
  n?: number | number[];
  /** Patch tokens as an NHWC grid `[B, h, w, D]` instead of `[B, h·w, D]`. */
  reshape?: boolean;
  /** Apply the final norm (default true). */
  norm?: boolean;
}

/** One collected block output of {@link Dinov3ViT.getIntermediateLayers}. */
export interface IntermediateLayer {
  patchTokens: tf.Tensor;
  clsToken: tf.Tensor2D;
  storageTokens: tf.Tensor3D;
}

/**
 * The DINOv3 Vision Transformer (upstream `DinoVisionTransformer`) in eval mode. Parameter names equal the
 * official state-dict keys. Inputs are NHWC float images, already normalised (see `preprocess`); any size works
 * and is floor-cropped to whole patches. Weights are allocated lazily, so even the 7B preset costs nothing until
 * loaded or used.
 */
export class Dinov3ViT extends Module {
  readonly config: Dinov3Config;
  readonly clsToken: Parameter;
  readonly storageTokens: Parameter | null;
  readonly maskToken: Parameter;
  readonly patchEmbed: PatchEmbed;
  readonly ropeEmbed: RopePositionEmbedding;
  readonly blocks: SelfAttentionBlock[];
  readonly norm: LayerNorm | RMSNorm;
  readonly clsNorm: LayerNorm | RMSNorm | null;
  readonly localClsNorm: LayerNorm | RMSNorm | null;

  constructor(config: Dinov3ConfigInput, overrides: Partial<Dinov3Config> = {}) {
    super();
    const c = resolveConfig(config, overrides);
    this.config = c;
    this.clsToken = this.param('cls_token', [1, 1, c.embedDim], init.normal(0.02));
    this.storageTokens = c.nStorageTokens > 0 ? this.param('storage_tokens', [1, c.nStorageTokens, c.embedDim], init.normal(0.02)) : null;
    this.maskToken = this.param('mask_token', [1, c.embedDim], init.zeros);
    this.patchEmbed = this.child('patch_embed', new PatchEmbed(c.patchSize, c.inChans, c.embedDim));
    this.ropeEmbed = this.child('rope_embed', new RopePositionEmbedding(c));
    this.blocks = this.childList(
      'blocks',
      Array.from({ length: c.depth }, () => new SelfAttentionBlock(c)),
    );
    this.norm = this.child('norm', makeNorm(c));
    this.clsNorm = c.untieClsAndPatchNorms ? this.child('cls_norm', makeNorm(c)) : null;
    this.localClsNorm = c.untieGlobalAndLocalClsNorm ? this.child('local_cls_norm', makeNorm(c)) : null;
    this.eval();
  }

  get embedDim(): number {
    return this.config.embedDim;
  }

  get patchSize(): number {
    return this.config.patchSize;
  }

  /** Class + storage tokens in front of the patch tokens (5 for hub models). */
  get numPrefixTokens(): number {
    return 1 + this.config.nStorageTokens;
  }

  /**
   * Runs the backbone (upstream `forward_features`). `x`: `[B, Hi, Wi, C]` normalised float images;
   * `masks` (optional, bool `[B, h·w]`): masked patch tokens are replaced by `mask_token`.
   * The returned tensors belong to the caller (dispose them); nothing else is left behind.
   */
  forwardFeatures(x: tf.Tensor4D, masks?: tf.Tensor2D): Dinov3Features {
    return tf.tidy(() => {
      const { tokens, height, width } = this.prepareTokens(x, masks);
      let h = tokens;
      for (const block of this.blocks) h = block.forward(h, this.ropeEmbed.transform(height, width, this.numPrefixTokens));
      const normed = this.finalNorm(h);
      const [b, t, d] = normed.shape;
      const r = this.config.nStorageTokens;
      return {
        clsToken: tf.reshape(tf.slice(normed, [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D,
        storageTokens: tf.slice(normed, [0, 1, 0], [b, r, d]) as tf.Tensor3D,
        patchTokens: tf.slice(normed, [0, 1 + r, 0], [b, t - 1 - r, d]) as tf.Tensor3D,
        prenorm: h,
      };
    });
  }

  /** Upstream `forward` in eval mode: the normed class token `[B, D]` (the head is the identity). */
  forward(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const f = this.forwardFeatures(x);
      return f.clsToken;
    });
  }

  /**
   * Outputs of several blocks (upstream `get_intermediate_layers`): for each selected block its patch tokens
   * (optionally reshaped to an NHWC grid), class token and storage tokens, final-normed unless `norm: false`.
   */
  getIntermediateLayers(x: tf.Tensor4D, options: IntermediateLayersOptions = {}): IntermediateLayer[] {
    const { n = 1, reshape = false, norm = true } = options;
    const depth = this.blocks.length;
    const take = typeof n === 'number' ? Array.from({ length: n }, (_, i) => depth - n + i) : n;
    for (const i of take) if (!Number.isInteger(i) || i < 0 || i >= depth) throw new Error(`getIntermediateLayers: block ${i} does not exist (depth ${depth})`);
    return tf.tidy(() => {
      const { tokens, height, width } = this.prepareTokens(x);
      const collected = new Map<number, tf.Tensor3D>();
      let h = tokens;
      this.blocks.forEach((block, i) => {
        h = block.forward(h, this.ropeEmbed.transform(height, width, this.numPrefixTokens));
        if (take.includes(i)) collected.set(i, h);
      });
      return take.map((i) => {
        const out = norm ? this.finalNorm(collected.get(i)!) : collected.get(i)!;
        const [b, t, d] = out.shape;
        const r = this.config.nStorageTokens;
        const patches = tf.slice(out, [0, 1 + r, 0], [b, t - 1 - r, d]);
        return {
          patchTokens: reshape ? tf.reshape(patches, [b, height, width, d]) : patches,
          clsToken: tf.reshape(tf.slice(out, [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D,
          storageTokens: tf.slice(out, [0, 1, 0], [b, r, d]) as tf.Tensor3D,
        };
      });
    });
  }

  /**
   * Loads a state dict with the official key names or the Hugging Face `DINOv3ViTModel` names (detected by
   * key). `rope_embed.periods` and every `bias_mask` are taken from the dict when present (the released
   * checkpoints store bfloat16-rounded periods), computed otherwise. Throws `StateDictMismatchError` listing
   * every missing, unexpected and mis-shaped key.
   */
  loadStateDict(stateDict: StateDictLike, options: Dinov3LoadOptions = {}): LoadStateDictResult {
    const { strict = true } = options;
    const prepared = prepareStateDict(toStateDict(stateDict), options.prefix);
    const sd = new Map(prepared.sd);
    const huggingFace = prepared.huggingFace;
    const periodsMode = options.ropePeriods ?? (huggingFace ? 'bf16' : undefined);
    if (!sd.has('rope_embed.periods')) {
      const c = this.config;
      const dtype = periodsMode === undefined ? c.posEmbedRopeDtype : periodsMode === 'bf16' ? 'bf16' : 'fp32';
      const periods = ropePeriods(this.ropeEmbed.headDim, { base: c.posEmbedRopeBase, minPeriod: c.posEmbedRopeMinPeriod, maxPeriod: c.posEmbedRopeMaxPeriod, dtype });
      sd.set('rope_embed.periods', { dtype: 'F32', shape: [periods.length], data: periods });
    }
    for (const [name, p] of this.namedParameters()) {
      if (name.endsWith('.bias_mask') && !sd.has(name) && sd.has(name.replace(/_mask$/, ''))) {
        sd.set(name, { dtype: 'F32', shape: p.torchShape, data: kBiasMask(p.shape[0]) });
      }
    }
    const result = loadStateDict(this, sd, { strict });
    const periods = sd.get('rope_embed.periods');
    if (periods) this.ropeEmbed.setPeriods(toFloat32(periods));
    return result;
  }

  /** Frees the weights and cached RoPE tables. */
  override dispose(): void {
    this.ropeEmbed.clearCache();
    super.dispose();
  }

  private prepareTokens(x: tf.Tensor4D, masks?: tf.Tensor2D): { tokens: tf.Tensor3D; height: number; width: number } {
    const c = this.config;
    if (x.rank !== 4 || x.shape[3] !== c.inChans) {
      throw new Error(`DINOv3 expects NHWC images [B, H, W, ${c.inChans}], got [${x.shape}]`);
    }
    const [b, hi, wi] = x.shape;
    if (hi < c.patchSize || wi < c.patchSize) throw new Error(`DINOv3: image ${hi}×${wi} is smaller than one ${c.patchSize}×${c.patchSize} patch`);
    const grid = this.patchEmbed.forward(tf.cast(x, 'float32') as tf.Tensor4D);
    const [, height, width, d] = grid.shape;
    let patches = tf.reshape(grid, [b, height * width, d]) as tf.Tensor3D;
    if (masks) {
      if (masks.shape[0] !== b || masks.shape[1] !== height * width) {
        throw new Error(`DINOv3: masks must be [${b}, ${height * width}], got [${masks.shape}]`);
      }
      const m = tf.broadcastTo(tf.expandDims(tf.cast(masks, 'bool'), -1), patches.shape);
      patches = tf.where(m, tf.broadcastTo(tf.reshape(this.maskToken.value, [1, 1, d]), patches.shape), patches) as tf.Tensor3D;
    }
    const prefix = [tf.broadcastTo(this.clsToken.value, [b, 1, d])];
    if (this.storageTokens) prefix.push(tf.broadcastTo(this.storageTokens.value, [b, c.nStorageTokens, d]));
    return { tokens: tf.concat([...prefix, patches], 1) as tf.Tensor3D, height, width };
  }

  /** The final norm over all tokens (or `cls_norm` on class + storage tokens when untied). */
  private finalNorm(h: tf.Tensor3D): tf.Tensor3D {
    if (!this.clsNorm) return this.norm.forward(h) as tf.Tensor3D;
    const [b, t, d] = h.shape;
    const p = this.numPrefixTokens;
    const head = this.clsNorm.forward(tf.slice(h, [0, 0, 0], [b, p, d]));
    const rest = this.norm.forward(tf.slice(h, [0, p, 0], [b, t - p, d]));
    return tf.concat([head, rest], 1) as tf.Tensor3D;
  }
}

/**
 * Brings a state dict to the official key names: keys under `prefix` (default: detected, see
 * {@link detectPrefix}) with the prefix removed, Hugging Face names converted (see {@link fromHuggingFace}).
 */
export function prepareStateDict(sd: ReadonlyMap<string, RawTensor>, prefix?: string): { sd: Map<string, RawTensor>; huggingFace: boolean } {
  const chosen = prefix ?? detectPrefix(sd);
  let out = new Map<string, RawTensor>();
  for (const [k, v] of sd) if (k.startsWith(chosen)) out.set(k.slice(chosen.length), v);
  if (out.size === 0) throw new Error(`no state-dict key starts with the prefix '${chosen}'`);
  const huggingFace = isHuggingFaceStateDict(out);
  if (huggingFace) out = fromHuggingFace(out);
  return { sd: out, huggingFace };
}

/** The prefix before the only `…cls_token` key, when the dict has no top-level (official or HF) one. */
export function detectPrefix(sd: ReadonlyMap<string, RawTensor>): string {
  if (sd.has('cls_token') || sd.has('embeddings.cls_token') || sd.has('model.embeddings.cls_token')) return '';
  const hits = [...sd.keys()].filter((k) => k.endsWith('.cls_token'));
  if (hits.length !== 1) return '';
  return hits[0].slice(0, -'cls_token'.length).replace(/(model\.)?embeddings\.$/, '');
}

/** Builds a DINOv3 ViT from a hub preset name (`vits16plus`, ...) or a config; weights stay unallocated until used. */
export function createDinov3(config: Dinov3ConfigInput, overrides: Partial<Dinov3Config> = {}): Dinov3ViT {
  return new Dinov3ViT(config, overrides);
}
