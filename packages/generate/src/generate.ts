import * as tf from '@tensorflow/tfjs-core';
import type { DiT } from '@svg/dit';
import { type LatentStats, type SamplerSettings, type StepInfo, denormalizeLatent, resolveSamplerSettings, sample, seededNormal } from '@svg/flow';
import { checkGeneratorParts } from './compat';

/** The 16 ImageNet classes `sample_svg.py` draws: the default classes for grids of 1000-class models. */
export const SAMPLE_CLASSES_IMAGENET: readonly number[] = [130, 270, 284, 688, 250, 146, 980, 484, 207, 360, 387, 974, 88, 979, 417, 279];

/** Anything that maps a latent NHWC `[B, h, w, C]` to images NHWC `[B, 16h, 16w, 3]` in about [-1, 1]. */
export interface LatentDecoder {
  decode(latent: tf.Tensor4D): tf.Tensor4D;
  /** The same with progress after each of its stages (the SVG autoencoder has it); used when progress is asked for. */
  decodeWithProgress?(latent: tf.Tensor4D, onProgress: (done: number, total: number) => void | Promise<void>): Promise<tf.Tensor4D>;
  /** Latent channels the decoder takes (an `SvgAutoencoder` has it); checked against the DiT before sampling. */
  readonly latentChannels?: number;
}

/** What to generate and with which models; the sampler settings not given are @svg/flow's `SAMPLE_DEFAULTS`. */
export interface GenerateOptions extends Partial<SamplerSettings> {
  dit: DiT;
  decoder: LatentDecoder;
  /** Latent statistics the DiT was trained with (`feature_norm`); `null` when it was trained without. */
  stats: LatentStats | null;
  /** One ImageNet class index per image. */
  classes: number[];
  /** Image i uses noise from seed `seed + i`, so any image can be made again alone (default 0). */
  seed?: number;
  /**
   * Called after every sampling step (awaited before the next): the step count, the time reached, the latents `z`
   * (owned by the sampler, valid during the call) and `x1()`, the current estimate of the clean latents (a new
   * tensor for the caller to dispose; {@link decodeLatents} turns it into a preview).
   */
  onStep?: (info: Pick<StepInfo, 'step' | 'steps' | 't' | 'z' | 'x1'>) => void | Promise<void>;
  /** Called during the decode, after each stage of the decoder (`done` of `total`; see {@link decodeLatents}). */
  onDecode?: (done: number, total: number) => void | Promise<void>;
  signal?: AbortSignal;
}

/** One image, 8-bit RGB. */
export interface RgbImage {
  width: number;
  height: number;
  /** RGB, 8 bits per channel, rows top to bottom. */
  pixels: Uint8Array;
}

export interface GeneratedImage extends RgbImage {
  classIndex: number;
  seed: number;
}

/** The settings of a generation, e.g. to store in a PNG's text chunks. */
export function generationSettings(options: Partial<SamplerSettings>): Record<string, string> {
  const { steps, cfg, mode, shift, cfgMode, guidanceInterval } = resolveSamplerSettings(options);
  const out: Record<string, string> = { steps: String(steps), cfg: String(cfg), sampler: mode, shift: String(shift), 'cfg-mode': cfgMode };
  if (guidanceInterval) out['guidance-interval'] = guidanceInterval.join(',');
  return out;
}

/**
 * Generates one image per class with the official SVG procedure: Gaussian noise `[B, T, C]`, rectified-flow
 * sampling of the DiT with classifier-free guidance (null class = the DiT's `numClasses`), de-normalisation with
 * the latent statistics, tokens → NHWC grid, decoder, clamp to [-1, 1], and mapping to 8-bit RGB.
 */
export async function generateImages(options: GenerateOptions): Promise<GeneratedImage[]> {
  const { dit, decoder, stats, classes } = options;
  const seed = options.seed ?? 0;
  const { numClasses, inChannels } = dit.config;
  // Mismatched parts must fail before the sampling steps, not after them.
  checkGeneratorParts({ dit, decoder, stats });
  const { steps, cfg, mode, shift, cfgMode, guidanceInterval } = resolveSamplerSettings(options);
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new RangeError(`class index ${c} is outside 0..${numClasses - 1}`);
  }
  const tokens = dit.numTokens;
  const noise = tf.tidy(() => tf.concat(classes.map((_, i) => seededNormal([1, tokens, inChannels], seed + i)), 0));
  const y = tf.tensor1d(classes, 'int32');
  const yNull = tf.fill([classes.length], numClasses, 'int32') as tf.Tensor1D;
  dit.eval();
  let z: tf.Tensor;
  try {
    z = await sample((x, t, labels) => dit.forward(x as tf.Tensor3D, t as tf.Tensor1D, labels), noise, {
      steps,
      cfg,
      mode,
      shift,
      cfgMode,
      guidanceInterval,
      y,
      yNull: cfg === 1 ? undefined : yNull,
      onStep: options.onStep && (({ step, steps, t, z, x1 }) => options.onStep!({ step, steps, t, z, x1 })),
      signal: options.signal,
    });
  } finally {
    tf.dispose([noise, y, yNull]);
  }
  try {
    const images = await decodeLatents(z, decoder, stats, { onProgress: options.onDecode });
    return images.map((image, i) => ({ ...image, classIndex: classes[i], seed: seed + i }));
  } finally {
    z.dispose();
  }
}

/**
 * Latent tokens as the DiT makes them, `[B, T, C]` (normalised when the DiT was trained with statistics), to 8-bit
 * RGB images: de-normalisation with `stats`, tokens → NHWC grid `[B, √T, √T, C]`, the decoder, clamping to [-1, 1]
 * and `round((x + 1)·127.5)`. The final images of {@link generateImages} and previews of `x1()` go through here.
 * `onProgress` reports the decoder's stages as they finish (when the decoder has `decodeWithProgress`; otherwise
 * once, at the end): a large decode takes long on a slow GPU. The pixels are the same either way.
 */
export async function decodeLatents(
  z: tf.Tensor,
  decoder: LatentDecoder,
  stats: LatentStats | null,
  options: { onProgress?: (done: number, total: number) => void | Promise<void> } = {},
): Promise<RgbImage[]> {
  const [batch, tokens, channels] = z.shape;
  const side = Math.round(Math.sqrt(tokens));
  if (z.rank !== 3 || side * side !== tokens) throw new Error(`latents must be [B, T, C] with T a square, got [${z.shape.join(', ')}]`);
  const latent = tf.tidy(() => tf.reshape(stats ? denormalizeLatent(z, stats) : z, [batch, side, side, channels]) as tf.Tensor4D);
  let decoded: tf.Tensor4D;
  try {
    const { onProgress } = options;
    if (onProgress && decoder.decodeWithProgress) decoded = await decoder.decodeWithProgress(latent, onProgress);
    else {
      decoded = decoder.decode(latent);
      await onProgress?.(1, 1);
    }
  } finally {
    latent.dispose();
  }
  const images = tf.tidy(() => tf.cast(tf.round(tf.mul(tf.add(tf.clipByValue(decoded, -1, 1), 1), 127.5)), 'int32'));
  decoded.dispose();
  const [, height, width] = images.shape;
  const data = await images.data();
  images.dispose();
  const per = height * width * 3;
  return Array.from({ length: batch }, (_, i) => ({ width, height, pixels: Uint8Array.from(data.subarray(i * per, (i + 1) * per)) }));
}
