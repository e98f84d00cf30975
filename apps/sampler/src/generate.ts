/**
 * One generation run of the page: @svg/generate's `generateImages` (the procedure `svg sample` uses) with
 * per-step progress, an optional preview (the sampler's clean-sample estimate x̂₁, decoded as the final images
 * are), cancellation, and a GPU-limit check.
 */
import * as tf from '@tensorflow/tfjs-core';
import { imagenetClasses } from '@svg/data-imagenet';
import { ALL_CLASSES } from './state';
import { type GeneratedImage, decodeLatents, generateImages, generationSettings } from '@svg/generate';
import { checkBufferSize, maxBufferBytes } from './backend';
import type { LoadedModels } from './models';
import type { Settings } from './state';

export interface Progress {
  /** 1-based index of the image being made, of `images`. */
  image: number;
  images: number;
  step: number;
  steps: number;
  /** Share of the whole run done, 0..1. */
  fraction: number;
  /** Sampling steps per second so far (GPU work included: every step waits for its result). */
  itPerSec: number;
  /** While the image is being decoded: the decoder's stages done (each waits for its GPU work). */
  decode?: { stage: number; stages: number };
}

export interface RunCallbacks {
  onProgress(p: Progress): void;
  /** An RGB preview of the current image's estimate. */
  onPreview?(image: { width: number; height: number; pixels: Uint8Array }): void;
  /** Called with each finished image. */
  onImage(item: GalleryItem): void | Promise<void>;
}

/** One finished image with everything needed to show, save and remake it. */
export interface GalleryItem extends GeneratedImage {
  settings: Settings;
  /** The text chunks stored in its PNG. */
  text: Record<string, string>;
  backend: string;
}

/**
 * The largest buffers a run needs (float32 bytes), checked against the GPU's per-buffer limit before starting:
 * the DiT's attention scores and MLP activations for the batch, and the decoder's widest feature map.
 */
export function checkRunFits(models: Pick<LoadedModels, 'dit' | 'autoencoder'>, count: number, limit = maxBufferBytes()): void {
  const c = models.dit.config;
  const T = models.dit.numTokens;
  const check = (bytes: number, what: string) => checkBufferSize(bytes, what, limit);
  check(count * c.numHeads * T * T * 4, `DiT attention for ${count} image(s)`);
  check(count * T * Math.trunc(c.hiddenSize * c.mlpRatio) * 4, `DiT MLP for ${count} image(s)`);
  const d = models.autoencoder.config.ddconfig;
  const side = Math.round(Math.sqrt(T));
  let widest = 0;
  d.ch_mult.forEach((m, level) => {
    const res = side * 2 ** (d.ch_mult.length - 1 - level);
    widest = Math.max(widest, res * res * d.ch * m * 4);
  });
  widest = Math.max(widest, side * side * d.z_channels * 4);
  check(widest, 'the decoder (one image)');
}

/** Waits until the GPU has computed `z` (its work is queued otherwise): reading one value is enough. */
async function settled(z: tf.Tensor): Promise<void> {
  const one = tf.slice(z, new Array(z.rank).fill(0), new Array(z.rank).fill(1));
  await one.data();
  one.dispose();
}

/** The part of each image's progress bar given to its sampling steps; the decode fills the rest. */
const SAMPLING_SHARE = 0.9;

/**
 * Generates `settings.count` images of one class — or, for "all classes", one image of each class — one at a time:
 * image i uses seed `settings.seed + i` and is made exactly as if it were generated alone (batches change float
 * rounding), so "same seed again" gives the same pixels. Each finished image goes to `onImage` at once.
 */
export async function runGeneration(models: LoadedModels, settings: Settings, backend: string, signal: AbortSignal, callbacks: RunCallbacks): Promise<void> {
  checkRunFits(models, 1);
  const every = settings.classIndex === ALL_CLASSES;
  const count = every ? models.dit.config.numClasses : settings.count;
  const start = performance.now();
  let stepsBefore = 0; // steps of the images already finished (dopri5 chooses its own number)
  for (let i = 0; i < count; i++) {
    let stepsDone = 0;
    const options = {
      dit: models.dit,
      decoder: models.autoencoder,
      stats: models.stats,
      classes: [every ? i : settings.classIndex],
      seed: settings.seed + i,
      steps: settings.steps,
      cfg: settings.cfg,
      mode: settings.sampler,
      shift: settings.shift,
      cfgMode: settings.cfgMode,
      signal,
    };
    const [image] = await generateImages({
      ...options,
      onStep: async ({ step, steps, z, x1 }) => {
        await settled(z); // honest it/s: the step's GPU work is done
        stepsDone = step;
        const itPerSec = (stepsBefore + step) / ((performance.now() - start) / 1000);
        callbacks.onProgress({ image: i + 1, images: count, step, steps, fraction: (i + SAMPLING_SHARE * (step / steps)) / count, itPerSec });
        if (settings.preview && callbacks.onPreview && step < steps && step % settings.previewEvery === 0) {
          const estimate = x1();
          try {
            callbacks.onPreview((await decodeLatents(estimate, models.autoencoder, models.stats))[0]);
          } finally {
            estimate.dispose();
          }
        }
      },
      onDecode: (stage, stages) => {
        const steps = Math.max(stepsDone, 1);
        const itPerSec = (stepsBefore + stepsDone) / ((performance.now() - start) / 1000);
        callbacks.onProgress({ image: i + 1, images: count, step: stepsDone, steps, fraction: (i + SAMPLING_SHARE + (1 - SAMPLING_SHARE) * (stage / stages)) / count, itPerSec, decode: { stage, stages } });
      },
    });
    const className = (models.classNames ? models.classNames[image.classIndex] : imagenetClasses()[image.classIndex]?.name) ?? '';
    await callbacks.onImage({
      ...image,
      settings: { ...settings, classIndex: image.classIndex, seed: image.seed, count: 1 },
      backend,
      text: {
        software: 'svg-ts sampler',
        ...generationSettings(options),
        class: `${image.classIndex} ${className}`.trim(),
        seed: String(image.seed),
        backend,
        dit: models.labels.dit,
        autoencoder: models.labels.autoencoder,
      },
    });
    stepsBefore += stepsDone;
  }
}
