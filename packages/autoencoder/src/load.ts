import { type WeightsSource, readStateDict } from '@svg/dinov3';
import { type SvgAutoencoderConfig, SVG_AUTOENCODER_CONFIG, parseSvgAutoencoderConfig } from './config';
import { type SvgAutoencoder, createSvgAutoencoder } from './autoencoder';

/** Options of {@link loadSvgAutoencoder}. */
export interface LoadSvgAutoencoderOptions {
  /**
   * The upstream YAML config: its text, a file path (Node), or a parsed object (whole file or `model.params`).
   * Default: {@link SVG_AUTOENCODER_CONFIG} (the official ViT-S/16+ config).
   */
  config?: string | SvgAutoencoderConfig | Record<string, unknown>;
  /**
   * DINOv3 weights (official `.pth`, safetensors, path, URL, bytes or state dict), needed only when the checkpoint
   * has no `encoder.*` keys; when it has them they win, as upstream. Default: the config's `dinoconfig.weights`
   * path, as upstream loads it.
   */
  dinov3?: WeightsSource;
  /** Build and load only the decoder (for sampling). Default false. */
  decoderOnly?: boolean;
  /** Strict key matching (default true); `loss.*` keys are always ignored. */
  strict?: boolean;
}

/**
 * Loads an official SVG autoencoder checkpoint: a Lightning `.ckpt` (weights under `state_dict`), a plain
 * state dict file (`.pt`/`.pth`/safetensors) or an in-memory dict, as a path (Node), URL or bytes. With
 * `decoderOnly` only `decoder.*` is read, so no DINOv3 weights are needed.
 *
 * @example
 * const ae = await loadSvgAutoencoder('logs/svg/checkpoints/last.ckpt', {
 *   config: 'configs/example_svg_autoencoder_vitsp.yaml',
 *   dinov3: 'dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth',
 * });
 */
export async function loadSvgAutoencoder(source: WeightsSource, options: LoadSvgAutoencoderOptions = {}): Promise<SvgAutoencoder> {
  const config = await resolveConfigSource(options.config);
  const sd = await readStateDict(source);
  const model = createSvgAutoencoder(config, { decoderOnly: options.decoderOnly });
  const needsDinov3 = !options.decoderOnly && ![...sd.keys()].some((k) => k.startsWith('encoder.'));
  const dinov3Source = options.dinov3 ?? config.dinoconfig.weights;
  const dinov3 = needsDinov3 && dinov3Source !== undefined ? await readStateDict(dinov3Source) : undefined;
  try {
    model.loadStateDict(sd, { strict: options.strict, dinov3 });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

async function resolveConfigSource(config: LoadSvgAutoencoderOptions['config']): Promise<SvgAutoencoderConfig> {
  if (config === undefined) return SVG_AUTOENCODER_CONFIG;
  if (typeof config !== 'string') return parseSvgAutoencoderConfig(config as Record<string, unknown>);
  // A config file has several lines; a single line is a path.
  return parseSvgAutoencoderConfig(config.includes('\n') ? config : await readTextFile(config));
}

async function readTextFile(path: string): Promise<string> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) {
    const response = await fetch(path);
    if (!response.ok) throw new Error(`fetching the autoencoder config ${path} failed: HTTP ${response.status}`);
    return response.text();
  }
  const fsName = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  return fs.readFile(path, 'utf8');
}
