import type { RawTensor } from '@svg/weights';

/** Per-channel statistics of latents. */
export interface ChannelStats {
  readonly mean: Float32Array;
  readonly std: Float32Array;
  /** Values per channel the statistics were computed from. */
  readonly count: number;
}

/**
 * Streaming per-channel mean and standard deviation over latents of per-sample shape `sampleShape`, with the
 * channel on `channelAxis` (0 for SVG's `[392, 16, 16]` latents): every other axis and every sample is
 * pooled, i.e. the statistics of each channel over all tokens of all images — the definition of the
 * official `dinov3_sp_stats.pt` (spec §7). Accumulated in float64, batches merged with Chan's formula.
 */
export class ChannelStatsAccumulator {
  readonly channels: number;
  private readonly sampleSize: number;
  private readonly inner: number;
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;

  constructor(
    readonly sampleShape: readonly number[],
    readonly channelAxis = 0,
  ) {
    if (channelAxis < 0 || channelAxis >= sampleShape.length) {
      throw new Error(`channel axis ${channelAxis} outside sample shape [${sampleShape.join(', ')}]`);
    }
    this.channels = sampleShape[channelAxis];
    this.sampleSize = sampleShape.reduce((a, b) => a * b, 1);
    this.inner = sampleShape.slice(channelAxis + 1).reduce((a, b) => a * b, 1);
    this.mean = new Float64Array(this.channels);
    this.m2 = new Float64Array(this.channels);
  }

  /** Adds `count` samples stored contiguously in `data`. */
  add(data: Float32Array, count: number): void {
    if (data.length !== count * this.sampleSize) {
      throw new Error(`expected ${count} × [${this.sampleShape.join(', ')}] = ${count * this.sampleSize} values, got ${data.length}`);
    }
    if (count === 0) return;
    const C = this.channels;
    const inner = this.inner;
    const outer = (this.sampleSize / (C * inner)) * count;
    const sum = new Float64Array(C);
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < C; c++) {
        const base = (o * C + c) * inner;
        let s = 0;
        for (let i = 0; i < inner; i++) s += data[base + i];
        sum[c] += s;
      }
    }
    const nb = outer * inner;
    const bm = sum.map((s) => s / nb);
    const bm2 = new Float64Array(C);
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < C; c++) {
        const base = (o * C + c) * inner;
        const m = bm[c];
        let s = 0;
        for (let i = 0; i < inner; i++) {
          const d = data[base + i] - m;
          s += d * d;
        }
        bm2[c] += s;
      }
    }
    const na = this.n;
    const n = na + nb;
    for (let c = 0; c < C; c++) {
      const delta = bm[c] - this.mean[c];
      this.mean[c] += (delta * nb) / n;
      this.m2[c] += bm2[c] + (delta * delta * na * nb) / n;
    }
    this.n = n;
  }

  /**
   * The statistics so far. `unbiased` (default true, as `torch.std`) divides by `count − 1`;
   * `stdDecimals` rounds std as the official file's values are (6 decimals), default no rounding.
   */
  result(options: { unbiased?: boolean; stdDecimals?: number } = {}): ChannelStats {
    if (this.n === 0) throw new Error('no latents were added');
    const denom = (options.unbiased ?? true) ? this.n - 1 : this.n;
    const scale = options.stdDecimals === undefined ? 0 : 10 ** options.stdDecimals;
    const std = new Float32Array(this.channels);
    for (let c = 0; c < this.channels; c++) {
      const s = Math.sqrt(this.m2[c] / Math.max(denom, 1));
      std[c] = scale ? Math.round(s * scale) / scale : s;
    }
    return { mean: Float32Array.from(this.mean), std, count: this.n };
  }
}

/**
 * The tensors of a `dinov3_sp_stats` file: `dinov3_sp_mean` and `dinov3_sp_std`, float32 `[1, 1, C]` (the layout
 * `train_svg.py` broadcasts over `[B, 256, C]` tokens). Write them with `writeSafetensors` from `@svg/weights`.
 */
export function statsTensors(stats: { readonly mean: ArrayLike<number>; readonly std: ArrayLike<number> }): Record<'dinov3_sp_mean' | 'dinov3_sp_std', RawTensor> {
  const C = stats.mean.length;
  return {
    dinov3_sp_mean: { dtype: 'F32', shape: [1, 1, C], data: Float32Array.from(stats.mean) },
    dinov3_sp_std: { dtype: 'F32', shape: [1, 1, C], data: Float32Array.from(stats.std) },
  };
}
