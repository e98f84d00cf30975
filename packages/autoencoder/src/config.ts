import { parse as parseYaml } from 'yaml';
import type { Dinov3Config } from '@svg/dinov3';
import type { DecoderConfig } from './decoder';

/** `model.params.dinoconfig` of the upstream YAML. */
export interface DinoConfig {
  /** Hub entry point, e.g. `dinov3_vits16plus` (the `dinov3_` prefix is optional). */
  model_name: string;
  /** Path of the DINOv3 weights in the upstream setup (informational; pass the weights to the loader). */
  weights?: string;
  /** Path of a local DINOv3 clone in the upstream setup (unused here). */
  dinov3_location?: string;
  /** Ours, not upstream: constructor changes on top of the preset (e.g. `{ depth: 2 }` for small tests). */
  overrides?: Partial<Dinov3Config>;
}

/** `model.params.extra_vit_config` of the upstream YAML. */
export interface ExtraVitConfig {
  /** Residual channels (8). */
  output_dim: number;
  /** Probability of replacing a sample's whole residual map by `mask_token` in training mode (0.1). */
  mask_ratio?: number;
  /** Apply `match_distribution` (true in SVG). */
  use_outnorm?: boolean;
  /** Ours, not upstream (which hard-codes 6): number of ViT layers. */
  num_layers?: number;
  /**
   * Ours, not upstream (which hard-codes torchvision's ViT-S layout for 256² inputs): the input side (default
   * `ddconfig.resolution`), patch size (default: the DINOv3 patch size, so both grids match), width, heads, MLP width
   * and dropout (default 0.1, used for the MLP, attention weights and after the position embedding). Small images
   * (e.g. 32² Fashion-MNIST with 2×2 patches) need these.
   */
  image_size?: number;
  patch_size?: number;
  hidden_dim?: number;
  num_heads?: number;
  mlp_dim?: number;
  dropout?: number;
}

/**
 * The autoencoder config: `model.params` of the upstream YAML (`autoencoder/configs/*.yaml`), keys as upstream.
 * `lossconfig`, `monitor` and the other training keys are accepted and ignored here (see the loss classes).
 */
export interface SvgAutoencoderConfig {
  ddconfig: DecoderConfig;
  dinoconfig: DinoConfig;
  /** `null`/absent: no residual ViT (the latent is the DINOv3 features only). */
  extra_vit_config?: ExtraVitConfig | null;
  /** Only sizes the unused `norm_vit` LayerNorm (`output_dim + embed_dim` wide, spec §1.8). Default 32. */
  embed_dim?: number;
  lossconfig?: { target?: string; params?: Record<string, unknown> };
  [key: string]: unknown;
}

/** The configuration of `autoencoder/configs/example_svg_autoencoder_vitsp.yaml` (SVG with DINOv3 ViT-S/16+). */
export const SVG_AUTOENCODER_CONFIG: Readonly<SvgAutoencoderConfig> = Object.freeze({
  embed_dim: 32,
  lossconfig: { target: 'ldm.modules.losses.LPIPSWithDiscriminatorDecoder', params: { disc_start: 5001, disc_weight: 0.5 } },
  ddconfig: {
    double_z: true,
    z_channels: 392,
    resolution: 256,
    in_channels: 3,
    out_ch: 3,
    ch: 128,
    ch_mult: [1, 1, 2, 2, 4],
    num_res_blocks: 2,
    attn_resolutions: [16],
    dropout: 0.0,
  },
  dinoconfig: { model_name: 'dinov3_vits16plus' },
  extra_vit_config: { output_dim: 8, mask_ratio: 0.1, use_outnorm: true },
});

/**
 * Reads an upstream autoencoder config: YAML text (the whole file with `model.params`, or just the params), or an
 * already parsed object of either form. Checks that the required blocks are present.
 */
export function parseSvgAutoencoderConfig(source: string | Record<string, unknown>): SvgAutoencoderConfig {
  const doc = typeof source === 'string' ? parseYaml(source) : source;
  if (typeof doc !== 'object' || doc === null) throw new Error('autoencoder config: expected a YAML mapping');
  const model = (doc as Record<string, any>).model;
  const params = (model && typeof model === 'object' ? model.params : doc) as Record<string, unknown> | undefined;
  if (!params || typeof params !== 'object') throw new Error('autoencoder config: `model.params` is missing');
  const missing = ['ddconfig', 'dinoconfig'].filter((k) => typeof params[k] !== 'object' || params[k] === null);
  if (missing.length > 0) throw new Error(`autoencoder config: missing ${missing.map((k) => `model.params.${k}`).join(', ')}`);
  const dino = params.dinoconfig as Record<string, unknown>;
  if (typeof dino.model_name !== 'string') throw new Error('autoencoder config: model.params.dinoconfig.model_name must be a string');
  return params as SvgAutoencoderConfig;
}
