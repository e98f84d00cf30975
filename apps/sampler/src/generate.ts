/**
 * One generation run of the page: @svg/generate's `generateImages` (the procedure `svg sample` uses) with
 * per-step progress, an optional decoded preview of the current estimate, cancellation, and a GPU-limit check.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DiT } from '@svg/dit';
import { type LatentStats, denormalizeLatent } from '@svg/flow';
import { imagenetClasses } from '@svg/data-imagenet';
import { ALL_CLASSES } from './state';
import { type GeneratedImage, type LatentDecoder, generateImages, generationSettings } from '@svg/generate';
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

/**
 * Runs the DiT through a thin wrapper that keeps the last conditional evaluation's input `z_t`, time and velocity:
 * waiting for it after each step gives honest it/s on the GPU (whose work is otherwise queued), and
 * `z_t + (1 − t)·v` is the current estimate of the clean latent for the preview.
 */
class ProbedDiT {
  last: { z: tf.Tensor; t: tf.Tensor; v: tf.Tensor } | null = null;
  private condLabels: unknown = null;
  readonly proxy: DiT;

  constructor(dit: DiT) {
    // generateImages calls forward(z, t, y) with the conditional labels first, then the null labels.
    const forward: DiT['forward'] = (z, t, y, options) => {
      const out = dit.forward(z, t, y, options);
      this.condLabels ??= y;
      if (y === this.condLabels) {
        this.dispose();
        const channels = z.shape[2];
        this.last = {
          z: tf.keep(tf.clone(z)),
          t: tf.keep(tf.clone(t as tf.Tensor)),
          v: tf.keep(tf.slice(out, [0, 0, 0], [-1, -1, channels])),
        };
      }
      return out;
    };
    this.proxy = new Proxy(dit, { get: (target, prop) => (prop === 'forward' ? forward : Reflect.get(target, prop, target)) });
  }

  /** Waits until the GPU has finished the last evaluation. */
  async sync(): Promise<void> {
    if (this.last) await this.last.v.data();
  }

  /** The clean-latent estimate `z_t + (1 − t)·v` of the first image, as tokens `[1, T, C]`. */
  estimate(): tf.Tensor | null {
    const last = this.last;
    if (!last) return null;
    return tf.tidy(() => {
      const first = (x: tf.Tensor) => tf.slice(x, [0, 0, 0], [1, -1, -1]);
      const oneMinusT = tf.reshape(tf.sub(1, tf.slice(last.t, [0], [1])), [1, 1, 1]);
      return tf.add(first(last.z), tf.mul(oneMinusT, first(last.v)));
    });
  }

  dispose(): void {
    if (this.last) tf.dispose([this.last.z, this.last.t, this.last.v]);
    this.last = null;
  }
}

/** Decodes a latent estimate `[1, T, C]` to 8-bit RGB (same steps as the final images). */
async function decodePreview(estimate: tf.Tensor, stats: LatentStats | null, decoder: LatentDecoder, channels: number) {
  const side = Math.round(Math.sqrt(estimate.shape[1]!));
  const rgb = tf.tidy(() => {
    const latent = stats ? denormalizeLatent(estimate, stats) : estimate;
    const image = tf.clipByValue(decoder.decode(tf.reshape(latent, [1, side, side, channels]) as tf.Tensor4D), -1, 1);
    return tf.cast(tf.round(tf.mul(tf.add(image, 1), 127.5)), 'int32');
  });
  const [, height, width] = rgb.shape;
  const data = await rgb.data();
  rgb.dispose();
  return { width, height, pixels: Uint8Array.from(data) };
}

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
    const probe = new ProbedDiT(models.dit);
    const options = {
      dit: probe.proxy,
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
    try {
      const [image] = await generateImages({
        ...options,
        onStep: async ({ step, steps }) => {
          await probe.sync();
          stepsDone = step;
          const itPerSec = (stepsBefore + step) / ((performance.now() - start) / 1000);
          callbacks.onProgress({ image: i + 1, images: count, step, steps, fraction: (i + step / steps) / count, itPerSec });
          if (settings.preview && callbacks.onPreview && step < steps && step % settings.previewEvery === 0) {
            const estimate = probe.estimate();
            if (!estimate) return;
            try {
              callbacks.onPreview(await decodePreview(estimate, models.stats, models.autoencoder, models.dit.config.inChannels));
            } finally {
              estimate.dispose();
            }
          }
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
    } finally {
      probe.dispose();
    }
  }
}
