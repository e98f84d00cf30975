import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type SvgAutoencoder, loadSvgAutoencoder } from '@svg/autoencoder';
import type { DiT } from '@svg/dit';
import { loadDiTFile } from '@svg/dit/node';
import { type LatentStats, latentStatsFromTensors } from '@svg/flow';
import { type GeneratorParts, GeneratorMismatchError, MODEL_MANIFEST, type ModelManifest, checkGeneratorParts, parseModelManifest } from '@svg/generate';
import { MODEL_DIR } from '@svg/model-fashion-mnist';
import type { RawTensor } from '@svg/weights';
import { readSafetensorsFile } from '@svg/weights/node';
import { CliError } from './cli-error';
import { requireFile } from './files';

export const autoencoderOptions = {
  autoencoder: { type: 'string' },
  config: { type: 'string' },
  dinov3: { type: 'string' },
} as const;

export const autoencoderHelp = {
  autoencoder: 'SVG autoencoder checkpoint (.ckpt, .pt or converted safetensors)',
  config: "the autoencoder's upstream YAML config (default: the official ViT-S/16+ config)",
  dinov3: 'DINOv3 weights, when the autoencoder checkpoint has no encoder.* keys',
};

/** Loads the autoencoder named by --autoencoder/--config/--dinov3, timing it on stderr. */
export async function loadAutoencoderOption(values: Record<string, unknown>, command: string, decoderOnly = false): Promise<SvgAutoencoder> {
  const path = values.autoencoder;
  if (typeof path !== 'string') throw new CliError(`missing --autoencoder (see: svg ${command} --help)`);
  requireFile(path, 'autoencoder checkpoint');
  const config = values.config as string | undefined;
  if (config) requireFile(config, 'config');
  const dinov3 = values.dinov3 as string | undefined;
  if (dinov3) requireFile(dinov3, 'DINOv3 weights');
  return timedLoad('autoencoder', path, async () => {
    try {
      return await loadSvgAutoencoder(path, { decoderOnly, config, dinov3 });
    } catch (e) {
      throw new Error(describeMismatch(e, config));
    }
  });
}

/**
 * A state dict that does not fit the autoencoder, said briefly: without --config the file is most likely an SVG
 * autoencoder trained with another config, and a few mismatches show what differs better than 121 of them.
 */
function describeMismatch(e: unknown, config: string | undefined): string {
  const m = e as { name?: string; message?: string; mismatched?: unknown; missing?: unknown; unexpected?: unknown };
  if (m?.name !== 'StateDictMismatchError' || !Array.isArray(m.mismatched)) return (e as Error).message;
  const mismatched = m.mismatched as string[];
  const missing = Array.isArray(m.missing) ? (m.missing as string[]) : [];
  const unexpected = Array.isArray(m.unexpected) ? (m.unexpected as string[]) : [];
  const few = (label: string, keys: string[]) => (keys.length ? `${keys.length} ${label} (${keys.slice(0, 3).join('; ')}${keys.length > 3 ? '; ...' : ''})` : null);
  const detail = [few('shape mismatches', mismatched), few('missing keys', missing), few('unexpected keys', unexpected)].filter(Boolean).join(', ');
  if (!config && mismatched.length > 0) {
    return `this looks like an SVG autoencoder with a different config: pass --config <its yaml> (against the default ViT-S/16+ config: ${detail})`;
  }
  return `the weights do not fit ${config ? `the config ${config}` : 'the default ViT-S/16+ config'}: ${detail}`;
}

/** Runs a model load, turning any failure into one line that names the file. */
export async function timedLoad<T>(what: string, path: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    const model = await fn();
    console.error(`loaded ${what} from ${path} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return model;
  } catch (e) {
    throw new CliError(`${path}: cannot load the ${what}: ${(e as Error).message}`);
  }
}

/** The model `svg sample` and `svg eval` use when none is named: the shipped Fashion-MNIST SVG. */
export const DEFAULT_MODEL_DIR = MODEL_DIR;

/** A model folder loaded: its manifest, DiT, autoencoder (decoder only unless asked) and latent statistics. */
export interface LoadedModel {
  dir: string;
  manifest: ModelManifest;
  dit: DiT;
  autoencoder: SvgAutoencoder;
  stats: LatentStats<RawTensor> | null;
}

/** Reads and checks `<dir>/svg-model.json`. */
export async function readModelManifest(dir: string): Promise<ModelManifest> {
  const path = join(dir, MODEL_MANIFEST);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`${dir}: not a model folder (no ${MODEL_MANIFEST})`);
  }
  try {
    return parseModelManifest(JSON.parse(text), path);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** Loads a model folder (`svg-model.json` + its files), failing with one line that names the file. */
export async function loadModelFolder(dir: string, options: { decoderOnly?: boolean } = {}): Promise<LoadedModel> {
  const manifest = await readModelManifest(dir);
  const file = (name: string) => requireFile(join(dir, name), 'model file');
  const ditPath = file(manifest.dit);
  const aePath = file(manifest.autoencoder);
  const configPath = file(manifest.autoencoderConfig);
  const dit = await timedLoad('DiT', ditPath, () => loadDiTFile(ditPath));
  const autoencoder = await timedLoad('autoencoder', aePath, () => loadSvgAutoencoder(aePath, { config: configPath, decoderOnly: options.decoderOnly ?? true }));
  const stats = manifest.stats === null ? null : await readStatsFile(file(manifest.stats));
  checkModelParts(dir, manifest, dit, autoencoder, stats);
  return { dir, manifest, dit, autoencoder, stats };
}

/** Latent statistics from a safetensors file (`dinov3_sp_mean` / `dinov3_sp_std`, or `mean` / `std`). */
export async function readStatsFile(path: string): Promise<LatentStats<RawTensor>> {
  requireFile(path, 'statistics file');
  const { tensors } = await readSafetensorsFile(path);
  try {
    return latentStatsFromTensors(tensors);
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

function checkModelParts(dir: string, manifest: ModelManifest, dit: DiT, ae: SvgAutoencoder, stats: LatentStats<RawTensor> | null): void {
  if (manifest.classes.length !== dit.config.numClasses) throw new CliError(`${dir}: svg-model.json names ${manifest.classes.length} classes, the DiT has ${dit.config.numClasses}`);
  checkParts(dir, { dit, decoder: ae, stats });
}

/** Checks that a DiT, decoder and latent statistics belong together (before any sampling), as one CLI line. */
export function checkParts(context: string, parts: GeneratorParts): void {
  try {
    checkGeneratorParts(parts);
  } catch (e) {
    if (e instanceof GeneratorMismatchError) throw new CliError(`${context}: ${e.message}`);
    throw e;
  }
}
