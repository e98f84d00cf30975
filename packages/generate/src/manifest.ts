import { type SamplerSettings, SamplerSettingsError, resolveSamplerSettings } from '@svg/flow';

/** File name of a model folder's manifest. */
export const MODEL_MANIFEST = 'svg-model.json';

/**
 * A model folder's manifest (`svg-model.json`): which files make one SVG generator, the class names its labels
 * mean, and the sampler settings it was made for. Paths are relative to the folder (or URL) holding the manifest.
 */
export interface ModelManifest {
  format: 'svg-model';
  version: 1;
  name: string;
  /** DiT weights (safetensors; EMA). */
  dit: string;
  /** SVG autoencoder weights (safetensors, a `DinoDecoder` state dict) and its upstream-style YAML config. */
  autoencoder: string;
  autoencoderConfig: string;
  /** Latent statistics the DiT was trained with (`dinov3_sp_mean` / `dinov3_sp_std`); null: no feature norm. */
  stats: string | null;
  /** Class names by label index. */
  classes: string[];
  /** Image side in pixels. */
  imageSize: number;
  /** Sampler settings the model is meant to be used with (any of them; checked like every other front end's). */
  sampling: Partial<SamplerSettings>;
  /** Optional scorer shipped with the model (e.g. the Fashion-MNIST classifier of `@svg/eval`). */
  classifier?: string;
}

/** Checks a parsed `svg-model.json`; throws one line naming the first problem. */
export function parseModelManifest(value: unknown, source = MODEL_MANIFEST): ModelManifest {
  const fail = (what: string): never => {
    throw new Error(`${source}: ${what}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('expected a JSON object');
  const m = value as Record<string, unknown>;
  if (m.format !== 'svg-model') fail(`format must be "svg-model", got ${JSON.stringify(m.format)}`);
  if (m.version !== 1) fail(`version ${JSON.stringify(m.version)} is not supported (this svg-ts reads version 1)`);
  for (const key of ['name', 'dit', 'autoencoder', 'autoencoderConfig'] as const) {
    if (typeof m[key] !== 'string' || m[key] === '') fail(`${key} must be a non-empty string`);
  }
  if (m.stats !== null && typeof m.stats !== 'string') fail('stats must be a file name or null');
  if (!Array.isArray(m.classes) || m.classes.length === 0 || !m.classes.every((c) => typeof c === 'string')) fail('classes must be a non-empty list of names');
  if (!Number.isInteger(m.imageSize) || (m.imageSize as number) < 1) fail('imageSize must be a positive integer');
  const sampling = (m.sampling ?? {}) as Partial<SamplerSettings>;
  if (typeof sampling !== 'object' || sampling === null || Array.isArray(sampling)) fail('sampling must be an object');
  try {
    resolveSamplerSettings(sampling);
  } catch (e) {
    if (!(e instanceof SamplerSettingsError)) throw e;
    fail(e.format(`sampling.${e.setting}`));
  }
  if (m.classifier !== undefined && typeof m.classifier !== 'string') fail('classifier must be a file name');
  return { ...m, sampling } as unknown as ModelManifest;
}

/** The label of a class name (case- and punctuation-insensitive), or -1. */
export function findClassName(manifest: Pick<ModelManifest, 'classes'>, name: string): number {
  const key = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '');
  return manifest.classes.findIndex((c) => key(c) === key(name));
}
