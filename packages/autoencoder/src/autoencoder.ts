import * as tf from '@tensorflow/tfjs-core';
import { LayerNorm, Module, type Parameter, SeededRandom, init, loadStateDict as loadModuleStateDict } from '@svg/nn';
import { type Dinov3PresetName, type Dinov3ViT, IMAGENET_MEAN, IMAGENET_STD, createDinov3 } from '@svg/dinov3';
import { type RawTensor, type StateDictLike, toStateDict } from '@svg/weights';
import { type ExtraVitConfig, type SvgAutoencoderConfig, SVG_AUTOENCODER_CONFIG } from './config';
import { LdmDecoder } from './decoder';
import { matchDistribution } from './match-distribution';
import { ResidualVit, type ResidualVitConfig } from './residual-vit';

/** Options of {@link createSvgAutoencoder}. */
export interface CreateSvgAutoencoderOptions {
  /**
   * Build only the decoder (and skip DINOv3 and the residual ViT): enough for sampling, which only decodes.
   * `encode` then throws. Default false.
   */
  decoderOnly?: boolean;
  /** Seed of the host generator that draws the training-mode mask flags (§1.5). Default 0. */
  maskSeed?: number;
}

/** Options of {@link SvgAutoencoder.loadStateDict}. */
export interface SvgLoadOptions {
  /**
   * Every parameter must be present and no unknown key left over (default true). `loss.*` keys (LPIPS and the
   * discriminator of a training checkpoint) are never used here and never count as unexpected.
   */
  strict?: boolean;
  /**
   * DINOv3 weights (official names, optionally under a prefix) for when `sd` has no `encoder.*` keys. When `sd`
   * has them they win, as upstream (`init_from_ckpt` overrides the hub weights).
   */
  dinov3?: StateDictLike;
}

/** Intermediate results of {@link SvgAutoencoder.encodeDetailed} (all owned by the caller). */
export interface SvgEncoding {
  /** DINOv3 `x_norm_patchtokens`, `[B, N, 384]`. */
  patchTokens: tf.Tensor3D;
  /** Residual ViT output before matching (after the training-mode mask), `[B, N, 8]`; null without extra ViT. */
  hVit: tf.Tensor3D | null;
  /** After `match_distribution` (equals `hVit` when `use_outnorm` is false); null without extra ViT. */
  hVitMatched: tf.Tensor3D | null;
  /** The latent, NHWC `[B, H/16, W/16, 392]`. */
  latent: tf.Tensor4D;
}

/** Options of {@link SvgAutoencoder.decode} and {@link SvgAutoencoder.reconstruct}. */
export interface DecodeOptions {
  /** Clamp the output to [-1, 1] (upstream clamps only when saving images). Default false. */
  clamp?: boolean;
}

/**
 * The SVG autoencoder (upstream `DinoDecoder`): frozen DINOv3 patch features ⊕ distribution-matched residual ViT
 * features form the latent; the LDM convolutional decoder maps it back to pixels. Images and latents are NHWC.
 * Parameter names are the upstream state-dict keys (`encoder.*`, `extra_vit.*`, `mask_token`, `norm_vit.*`,
 * `decoder.*`). The DINOv3 encoder is frozen and always runs in eval mode, also when the module is in training
 * mode (spec defects D17/D18: the intended behaviour, not upstream's accidental train-mode encoder).
 */
export class SvgAutoencoder extends Module {
  readonly config: Readonly<SvgAutoencoderConfig>;
  /** Frozen DINOv3 backbone; null for a decoder-only model. */
  readonly encoder: Dinov3ViT | null;
  /** Residual ViT; null for decoder-only models and configs without `extra_vit_config`. */
  readonly extraVit: ResidualVit | null;
  /** `[1, C, 1]` token that replaces a whole residual map in training mode; null when `mask_ratio` is 0. */
  readonly maskToken: Parameter | null;
  /** Created and checkpointed upstream but never applied nor trained (spec §1.8); kept so checkpoints load strictly. */
  readonly normVit: LayerNorm | null;
  readonly decoder: LdmDecoder;
  /** Host generator of the training-mode mask flags. */
  maskRandom: SeededRandom;

  constructor(config: SvgAutoencoderConfig, options: CreateSvgAutoencoderOptions = {}) {
    super();
    this.config = config;
    this.maskRandom = new SeededRandom(options.maskSeed ?? 0);
    const extra = config.extra_vit_config ?? null;
    if (options.decoderOnly) {
      this.encoder = null;
      this.extraVit = null;
      this.maskToken = null;
      this.normVit = null;
    } else {
      this.encoder = this.child('encoder', createDinov3(presetName(config.dinoconfig.model_name), config.dinoconfig.overrides ?? {}));
      this.encoder.setTrainable(false);
      this.extraVit = extra ? this.child('extra_vit', new ResidualVit(residualVitConfig(extra, config.ddconfig.resolution, this.encoder.patchSize))) : null;
      this.maskToken = extra && (extra.mask_ratio ?? 0) > 0 ? this.param('mask_token', [1, extra.output_dim, 1], init.normal(0.02)) : null;
      this.normVit = extra ? this.child('norm_vit', new LayerNorm(extra.output_dim + (config.embed_dim ?? 32))).setTrainable(false) : null;
      const channels = this.encoder.embedDim + (extra?.output_dim ?? 0);
      if (config.ddconfig.z_channels !== channels) {
        throw new Error(`autoencoder config: ddconfig.z_channels is ${config.ddconfig.z_channels}, but the encoder produces ${channels} channels`);
      }
    }
    this.decoder = this.child('decoder', new LdmDecoder(config.ddconfig));
    this.eval();
  }

  /** Channels of the latent (392 for SVG). */
  get latentChannels(): number {
    return this.config.ddconfig.z_channels;
  }

  /** Pixels per latent cell along each side (the DINOv3 patch size, 16). */
  get patchSize(): number {
    return this.encoder?.patchSize ?? 16;
  }

  /** Training mode affects the residual ViT (dropout, mask token) and the decoder; DINOv3 stays in eval mode. */
  override train(mode = true): this {
    super.train(mode);
    this.encoder?.eval();
    return this;
  }

  /**
   * Loads upstream weights: a `DinoDecoder` state dict (the `state_dict` of a Lightning `.ckpt`), with or without
   * `encoder.*` (then pass the DINOv3 weights as `options.dinov3`). A decoder-only model takes only `decoder.*`.
   * Throws `StateDictMismatchError` listing every missing, unexpected or mis-shaped key.
   */
  loadStateDict(stateDict: StateDictLike, options: SvgLoadOptions = {}): void {
    const { strict = true } = options;
    const sd = new Map<string, RawTensor>();
    for (const [k, v] of toStateDict(stateDict)) if (!k.startsWith('loss.')) sd.set(k, v);
    const hasEncoderKeys = [...sd.keys()].some((k) => k.startsWith('encoder.'));
    if (this.encoder) {
      if (hasEncoderKeys) this.encoder.loadStateDict(sd, { strict, prefix: 'encoder.' });
      else if (options.dinov3) this.encoder.loadStateDict(options.dinov3, { strict });
      else if (strict) {
        throw new Error('the checkpoint has no encoder.* (DINOv3) weights: pass the DINOv3 weights as options.dinov3 (or strict: false)');
      }
    }
    const rest = new Map([...sd].filter(([k]) => !k.startsWith('encoder.')));
    if (!this.encoder) {
      // A decoder-only model ignores the encoder side of a full checkpoint.
      for (const k of [...rest.keys()]) if (!k.startsWith('decoder.')) rest.delete(k);
    }
    loadModuleStateDict(this.trainableParts(), rest, { strict });
  }

  /** `images` NHWC in [-1, 1] → ImageNet-normalised `x_in = ((x + 1)/2 − mean)/std` (spec §1.2). */
  normalizeImages(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const unit = tf.div(tf.add(images, 1), 2);
      return tf.div(tf.sub(unit, tf.tensor1d([...IMAGENET_MEAN])), tf.tensor1d([...IMAGENET_STD])) as tf.Tensor4D;
    });
  }

  /**
   * Images NHWC `[B, H, W, 3]` in [-1, 1] → latent NHWC `[B, H/16, W/16, 392]` (channels 0..383 DINOv3, 384..391
   * residual ViT). The residual channels are matched with statistics of the whole batch (spec §1.6): an image's
   * latent depends on the batch it is encoded with, exactly as upstream.
   */
  encode(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const { patchTokens, hVit, hVitMatched, latent } = this.encodeDetailed(this.normalizeImages(images));
      tf.dispose([patchTokens, hVit, hVitMatched].filter((t): t is tf.Tensor3D => t !== null));
      return latent;
    });
  }

  /**
   * {@link encode} on ImageNet-normalised input `xIn`, returning the intermediates too. In training mode each
   * sample's residual map is replaced by `mask_token` with probability `mask_ratio` (flags drawn from
   * `maskRandom`, or given as `maskFlags`).
   */
  encodeDetailed(xIn: tf.Tensor4D, maskFlags?: boolean[]): SvgEncoding {
    const encoder = this.requireEncoder();
    const [b, hi, wi] = xIn.shape;
    const p = encoder.patchSize;
    if (hi % p !== 0 || wi % p !== 0) throw new Error(`encode: image sides must be multiples of ${p}, got ${hi}×${wi}`);
    const [patchTokens, latent, hVit, hVitMatched] = tf.tidy(() => {
      const h = this.dinoFeatures(xIn);
      if (!this.extraVit) return [h, tf.reshape(h, [b, hi / p, wi / p, h.shape[2]])];
      let residual = this.extraVit.forward(xIn);
      if (this.training && this.maskToken) residual = this.applyMask(residual, maskFlags);
      const matched = this.config.extra_vit_config?.use_outnorm ? matchDistribution(h, residual) : tf.clone(residual);
      const tokens = tf.concat([h, matched], 2);
      return [h, tf.reshape(tokens, [b, hi / p, wi / p, tokens.shape[2]]), residual, matched];
    });
    return {
      patchTokens: patchTokens as tf.Tensor3D,
      latent: latent as tf.Tensor4D,
      hVit: (hVit as tf.Tensor3D | undefined) ?? null,
      hVitMatched: (hVitMatched as tf.Tensor3D | undefined) ?? null,
    };
  }

  /** Frozen DINOv3 patch features of ImageNet-normalised images: `[B, N, 384]` (no gradient to DINOv3). */
  dinoFeatures(xIn: tf.Tensor4D): tf.Tensor3D {
    const encoder = this.requireEncoder();
    return tf.tidy(() => {
      const f = encoder.forwardFeatures(xIn);
      tf.dispose([f.clsToken, f.storageTokens, f.prenorm]);
      return f.patchTokens;
    });
  }

  /** Latent NHWC `[B, h, w, 392]` → images NHWC `[B, 16h, 16w, 3]`, ≈[-1, 1] (unbounded unless `clamp`). */
  decode(latent: tf.Tensor4D, options: DecodeOptions = {}): tf.Tensor4D {
    return tf.tidy(() => {
      const x = this.decoder.forward(latent);
      return options.clamp ? (tf.clipByValue(x, -1, 1) as tf.Tensor4D) : x;
    });
  }

  /**
   * {@link decode} with progress: `onProgress(done, total)` after each stage of the decoder (see
   * `LdmDecoder.forwardInStages`); the same pixels as `decode`.
   */
  async decodeWithProgress(latent: tf.Tensor4D, onProgress: (done: number, total: number) => void | Promise<void>, options: DecodeOptions = {}): Promise<tf.Tensor4D> {
    const x = await this.decoder.forwardInStages(latent, onProgress);
    if (!options.clamp) return x;
    const clamped = tf.clipByValue(x, -1, 1) as tf.Tensor4D;
    x.dispose();
    return clamped;
  }

  /** `decode(encode(images))` (upstream `forward` on `get_input`'s two images). */
  reconstruct(images: tf.Tensor4D, options: DecodeOptions = {}): tf.Tensor4D {
    return tf.tidy(() => this.decode(this.encode(images), options));
  }

  /** Everything except the encoder, under the upstream names (a view sharing this model's parameters). */
  private trainableParts(): Module {
    return new ModuleView(this.namedParameters().filter(([name]) => !name.startsWith('encoder.')));
  }

  private requireEncoder(): Dinov3ViT {
    if (!this.encoder) throw new Error('this SvgAutoencoder was built decoderOnly: it cannot encode');
    return this.encoder;
  }

  private applyMask(hVit: tf.Tensor3D, maskFlags?: boolean[]): tf.Tensor3D {
    const b = hVit.shape[0];
    const ratio = this.config.extra_vit_config?.mask_ratio ?? 0;
    const flags = maskFlags ?? Array.from({ length: b }, () => this.maskRandom.uniform() < ratio);
    if (flags.length !== b) throw new Error(`maskFlags has ${flags.length} entries for a batch of ${b}`);
    return tf.tidy(() => {
      const m = tf.tensor3d(flags.map((f) => (f ? 1 : 0)), [b, 1, 1]);
      const token = tf.transpose(this.maskToken!.value, [0, 2, 1]); // [1, 1, C]
      return tf.add(tf.mul(hVit, tf.sub(1, m)), tf.mul(token, m)) as tf.Tensor3D;
    });
  }
}

/** The residual ViT an `extra_vit_config` describes: upstream's layout unless our keys change it. */
function residualVitConfig(extra: ExtraVitConfig, resolution: number, dinoPatch: number): Partial<ResidualVitConfig> {
  const c: Partial<ResidualVitConfig> = { outputDim: extra.output_dim, imageSize: extra.image_size ?? resolution, patchSize: extra.patch_size ?? dinoPatch };
  if (extra.num_layers !== undefined) c.numLayers = extra.num_layers;
  if (extra.hidden_dim !== undefined) c.hiddenDim = extra.hidden_dim;
  if (extra.num_heads !== undefined) c.numHeads = extra.num_heads;
  if (extra.mlp_dim !== undefined) c.mlpDim = extra.mlp_dim;
  if (extra.dropout !== undefined) [c.dropout, c.attentionDropout] = [extra.dropout, extra.dropout];
  return c;
}

/** `dinov3_vits16plus` (hub entry point, as in the YAML) → preset `vits16plus`. */
function presetName(modelName: string): Dinov3PresetName {
  return modelName.replace(/^dinov3_/, '') as Dinov3PresetName;
}

/** A module exposing a fixed list of (shared) named parameters, to load or list a subset of a model. */
class ModuleView extends Module {
  constructor(private readonly entries: [string, Parameter][]) {
    super();
  }

  override namedParameters(prefix = ''): [string, Parameter][] {
    return this.entries.map(([n, p]) => [prefix + n, p]);
  }
}

/**
 * Builds an SVG autoencoder from an upstream-style config (`model.params` of the YAML; default: the SVG
 * ViT-S/16+ config). Weights are allocated lazily: load them with {@link SvgAutoencoder.loadStateDict} or
 * `loadSvgAutoencoder`.
 *
 * @example
 * const ae = createSvgAutoencoder(SVG_AUTOENCODER_CONFIG);
 * ae.loadStateDict(stateDict, { dinov3: dinoStateDict });
 * const latent = ae.encode(images);                  // [B, 16, 16, 392]
 * const recon = ae.decode(latent, { clamp: true });  // [B, 256, 256, 3]
 */
export function createSvgAutoencoder(config: SvgAutoencoderConfig = SVG_AUTOENCODER_CONFIG, options: CreateSvgAutoencoderOptions = {}): SvgAutoencoder {
  return new SvgAutoencoder(config, options);
}
