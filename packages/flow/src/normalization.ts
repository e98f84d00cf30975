/**
 * Per-channel latent normalisation (reference `basic.feature_norm`, spec §4.7): `(x − μ) / σ` before training,
 * `x·σ + μ` after sampling. No epsilon: σ is used as stored.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type RawTensor, readSafetensors, toFloat32 } from '@svg/weights';
import { STATS_SAFETENSORS_BASE64 } from './stats-data';

/** One statistics vector: a RawTensor (e.g. from `readSafetensors`), a tfjs tensor, or plain numbers. */
export type StatsVector = RawTensor | tf.Tensor | Float32Array | readonly number[];

/**
 * Per-channel mean and standard deviation. Each holds C values along one axis; any shape whose other axes are 1
 * (`[C]`, `[1, 1, C]`, `[1, C, 1, 1]`) is accepted.
 */
export interface LatentStats<T extends StatsVector = StatsVector> {
  mean: T;
  std: T;
}

/** Keys of the official statistics file `dinov3_sp_stats` (spec §7). */
export const SVG_STATS_KEYS = { mean: 'dinov3_sp_mean', std: 'dinov3_sp_std' } as const;

/**
 * The official SVG latent statistics shipped with this package (`dinov3_sp_stats.pt` of the reference
 * repository: mean and std, `[1, 1, 392]` float32, channels 0..383 DINOv3, 384..391 the residual ViT).
 * Returns fresh copies on every call.
 */
export function loadLatentStats(): LatentStats<RawTensor> {
  return latentStatsFromSafetensors(base64ToBytes(STATS_SAFETENSORS_BASE64));
}

/** Reads latent statistics from safetensors bytes (see {@link latentStatsFromTensors}). */
export function latentStatsFromSafetensors(bytes: Uint8Array, keys?: { mean: string; std: string }): LatentStats<RawTensor> {
  return latentStatsFromTensors(readSafetensors(bytes).tensors, keys);
}

/**
 * The statistics among the tensors of a statistics file: `keys`, by default the official {@link SVG_STATS_KEYS}
 * (what `svg stats` and the trainers write) or plain `mean` / `std`. Throws naming the keys the file has.
 */
export function latentStatsFromTensors(tensors: ReadonlyMap<string, RawTensor>, keys?: { mean: string; std: string }): LatentStats<RawTensor> {
  const choices = keys ? [keys] : [SVG_STATS_KEYS, { mean: 'mean', std: 'std' }];
  const found = choices.find((k) => tensors.has(k.mean) && tensors.has(k.std));
  if (!found) {
    const wanted = choices.map((k) => `${k.mean} and ${k.std}`).join(', or ');
    throw new Error(`latent statistics need tensors ${wanted}; found ${[...tensors.keys()].join(', ') || 'none'}`);
  }
  return { mean: tensors.get(found.mean)!, std: tensors.get(found.std)! };
}

/** Options of {@link normalizeLatent} / {@link denormalizeLatent}. */
export interface NormalizeOptions {
  /** The channel axis of `x` (default -1: token layout `[B, T, C]`; use 1 for `[B, C, H, W]`). */
  channelAxis?: number;
}

/** `(x − μ) / σ` per channel (training side). */
export function normalizeLatent(x: tf.Tensor, stats: LatentStats, options: NormalizeOptions = {}): tf.Tensor {
  return tf.tidy(() => {
    const { mean, std } = broadcastStats(x, stats, options.channelAxis ?? -1);
    return tf.div(tf.sub(x, mean), std);
  });
}

/** `x·σ + μ` per channel (after sampling, before decoding). */
export function denormalizeLatent(x: tf.Tensor, stats: LatentStats, options: NormalizeOptions = {}): tf.Tensor {
  return tf.tidy(() => {
    const { mean, std } = broadcastStats(x, stats, options.channelAxis ?? -1);
    return tf.add(tf.mul(x, std), mean);
  });
}

function broadcastStats(x: tf.Tensor, stats: LatentStats, channelAxis: number): { mean: tf.Tensor; std: tf.Tensor } {
  const axis = channelAxis < 0 ? x.rank + channelAxis : channelAxis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.rank) {
    throw new Error(`channelAxis ${channelAxis} is out of range for x of shape [${x.shape.join(', ')}]`);
  }
  const channels = x.shape[axis];
  const shape = x.shape.map((_, i) => (i === axis ? channels : 1));
  const make = (name: string, v: StatsVector): tf.Tensor => {
    const vShape = v instanceof tf.Tensor ? v.shape : isRaw(v) ? v.shape : [v.length];
    const n = vShape.reduce((a, b) => a * b, 1);
    if (vShape.filter((d) => d !== 1).length > 1) {
      throw new Error(`latent stats ${name} has shape [${vShape.join(', ')}]: expected one channel axis ([C], [1, 1, C], [1, C, 1, 1])`);
    }
    if (n !== channels) {
      throw new Error(
        `latent stats ${name} has ${n} channels (shape [${vShape.join(', ')}]) but x has ${channels} on axis ${axis} (shape [${x.shape.join(', ')}])`,
      );
    }
    if (v instanceof tf.Tensor) return tf.reshape(tf.cast(v, 'float32'), shape);
    return tf.tensor(isRaw(v) ? toFloat32(v) : Float32Array.from(v), shape, 'float32');
  };
  return { mean: make('mean', stats.mean), std: make('std', stats.std) };
}

function isRaw(v: StatsVector): v is RawTensor {
  return !(v instanceof tf.Tensor) && !ArrayBuffer.isView(v) && !Array.isArray(v) && typeof (v as RawTensor).dtype === 'string';
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decodes standard base64 (no dependency on `atob` or `Buffer`). */
export function base64ToBytes(b64: string): Uint8Array {
  const clean = b64.replace(/[\s=]/g, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = B64.indexOf(clean[i]);
    if (v < 0) throw new Error(`invalid base64 character '${clean[i]}' at ${i}`);
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
