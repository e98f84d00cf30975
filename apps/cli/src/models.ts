import { type SvgAutoencoder, loadSvgAutoencoder } from '@svg/autoencoder';
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
  return timedLoad('autoencoder', path, () => loadSvgAutoencoder(path, { decoderOnly, config, dinov3 }));
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
