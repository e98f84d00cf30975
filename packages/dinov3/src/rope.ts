import * as tf from '@tensorflow/tfjs-core';
import { Module, type Parameter, type QKTransform } from '@svg/nn';
import { halfToNumber, numberToBFloat16, numberToHalf } from '@svg/weights';
import type { Dinov3Config, RopeNormalizeCoords } from './config';

const f32 = Math.fround;
/** Python's `2 * math.pi`, rounded to float32 as PyTorch does when it multiplies a float32 tensor by it. */
const TWO_PI_F32 = f32(2 * Math.PI);

/** Rounds a number to float32, then to the nearest bfloat16 (ties to even), as PyTorch's `.bfloat16()` does. */
export function roundToBFloat16(x: number): number {
  const bits = new Uint32Array([numberToBFloat16(x) << 16]);
  return new Float32Array(bits.buffer)[0];
}

export interface RopePeriodOptions {
  base: number | null;
  minPeriod?: number | null;
  maxPeriod?: number | null;
  /** Dtype of the periods buffer: the values are rounded to it (`bf16` = what released checkpoints store). */
  dtype?: 'fp32' | 'bf16' | 'fp16';
}

/**
 * The RoPE `periods` buffer (`headDim/4` values): `base^(2j/(headDim/2))`, or a geometric range from
 * `minPeriod` to `maxPeriod` when `base` is null, rounded to `dtype` (float32 by default).
 */
export function ropePeriods(headDim: number, options: RopePeriodOptions): Float32Array {
  const n = headDim / 4;
  const round = options.dtype === 'bf16' ? roundToBFloat16 : options.dtype === 'fp16' ? (x: number) => halfToNumber(numberToHalf(x)) : f32;
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    if (options.base !== null) {
      out[j] = round(Math.pow(options.base, round((2 * j) / (headDim / 2))));
    } else {
      const min = options.minPeriod!;
      const max = options.maxPeriod!;
      const ratio = max / min;
      const exponent = round(n > 1 ? j / (n - 1) : 0);
      out[j] = round(round(round(Math.pow(ratio, exponent)) / ratio) * max);
    }
  }
  return out;
}

/** Training-mode coordinate augmentation factors (upstream draws them per call, i.e. per block). */
export interface RopeAugmentation {
  shift?: [number, number];
  jitter?: [number, number];
  rescale?: number;
}

/**
 * Rotation tables for `prefix` unrotated tokens followed by an `height × width` patch grid, computed on the host
 * exactly as the float32 reference does (coordinates, angles and their rounding), with sin/cos evaluated in
 * float64 and rounded. Returns `[T, headDim]` arrays, `T = prefix + height·width`: `cos` (1 on prefix rows) and
 * `sin` with its first half negated (0 on prefix rows), so that `rope(v) = v ⊙ cos + swapHalves(v) ⊙ sin`.
 */
export function ropeTables(
  height: number,
  width: number,
  periods: Float32Array,
  options: { prefix?: number; normalizeCoords?: RopeNormalizeCoords; augmentation?: RopeAugmentation } = {},
): { cos: Float32Array; sin: Float32Array } {
  const prefix = options.prefix ?? 0;
  const normalize = options.normalizeCoords ?? 'separate';
  const nf = periods.length;
  const hd = 4 * nf;
  const [denomH, denomW] =
    normalize === 'separate' ? [height, width] : normalize === 'max' ? [Math.max(height, width), Math.max(height, width)] : [Math.min(height, width), Math.min(height, width)];
  const axis = (size: number, denom: number) => Float32Array.from({ length: size }, (_, i) => f32(f32(2 * f32((i + 0.5) / denom)) - 1));
  const ys = axis(height, denomH);
  const xs = axis(width, denomW);
  const aug = options.augmentation;
  const t = prefix + height * width;
  const cos = new Float32Array(t * hd);
  const sin = new Float32Array(t * hd);
  for (let p = 0; p < prefix; p++) cos.fill(1, p * hd, (p + 1) * hd);
  const angles = new Float64Array(2 * nf);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      let y = ys[r];
      let x = xs[c];
      if (aug?.shift) [y, x] = [f32(y + aug.shift[0]), f32(x + aug.shift[1])];
      if (aug?.jitter) [y, x] = [f32(y * aug.jitter[0]), f32(x * aug.jitter[1])];
      if (aug?.rescale !== undefined) [y, x] = [f32(y * aug.rescale), f32(x * aug.rescale)];
      const ay = f32(TWO_PI_F32 * y);
      const ax = f32(TWO_PI_F32 * x);
      for (let k = 0; k < nf; k++) {
        angles[k] = f32(ay / periods[k]);
        angles[nf + k] = f32(ax / periods[k]);
      }
      const row = (prefix + r * width + c) * hd;
      for (let k = 0; k < 2 * nf; k++) {
        const s = Math.sin(angles[k]);
        const co = Math.cos(angles[k]);
        cos[row + k] = co;
        cos[row + 2 * nf + k] = co;
        sin[row + k] = -s;
        sin[row + 2 * nf + k] = s;
      }
    }
  }
  return { cos, sin };
}

/** `rope(v) = v ⊙ cos + rotateHalf(v) ⊙ sin` with the signed tables of {@link ropeTables}; v `[..., T, headDim]`. */
export function applyRope(v: tf.Tensor4D, cos: tf.Tensor, signedSin: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, t, d] = v.shape;
    const first = tf.slice(v, [0, 0, 0, 0], [b, h, t, d / 2]);
    const second = tf.slice(v, [0, 0, 0, d / 2], [b, h, t, d / 2]);
    const swapped = tf.concat([second, first], 3);
    return tf.add(tf.mul(v, cos), tf.mul(swapped, signedSin)) as tf.Tensor4D;
  });
}

interface Tables {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
}

/**
 * Upstream `RopePositionEmbedding` (`rope_embed`): holds the persistent `periods` buffer and makes the q/k
 * rotation for a patch grid. Eval-mode tables are built once per grid size and backend and cached; in training
 * mode (with shift/jitter/rescale configured) every call draws new augmentation factors, as upstream does per block.
 */
export class RopePositionEmbedding extends Module {
  readonly periods: Parameter;
  readonly headDim: number;
  private hostPeriods: Float32Array;
  private syncedWith: tf.Tensor | null = null;
  private readonly cache = new Map<string, Tables>();

  constructor(private readonly config: Dinov3Config) {
    super();
    this.headDim = config.embedDim / config.numHeads;
    this.hostPeriods = ropePeriods(this.headDim, {
      base: config.posEmbedRopeBase,
      minPeriod: config.posEmbedRopeMinPeriod,
      maxPeriod: config.posEmbedRopeMaxPeriod,
      dtype: config.posEmbedRopeDtype,
    });
    this.periods = this.buffer('periods', [this.headDim / 4], (shape) => (this.syncedWith = tf.tensor(this.hostPeriods, shape)));
  }

  /** The periods the tables are built from (a copy). */
  getPeriods(): Float32Array {
    return this.hostPeriods.slice();
  }

  /** Replaces the periods (buffer and host copy) and drops cached tables. */
  setPeriods(values: ArrayLike<number>): void {
    if (values.length !== this.headDim / 4) throw new Error(`rope_embed.periods: expected ${this.headDim / 4} values, got ${values.length}`);
    this.hostPeriods = Float32Array.from(values);
    this.periods.set(tf.tensor(this.hostPeriods, [this.headDim / 4]));
    this.syncedWith = this.periods.value;
    this.clearCache();
  }

  /** The q/k transform for an `height × width` grid after `prefix` unrotated tokens. */
  transform(height: number, width: number, prefix: number): QKTransform {
    const { cos, sin } = this.tables(height, width, prefix);
    return (q, k) => [applyRope(q, cos, sin), applyRope(k, cos, sin)];
  }

  private tables(height: number, width: number, prefix: number): Tables {
    this.checkPeriodsInSync();
    const augmentation = this.training ? this.drawAugmentation() : undefined;
    const make = (): Tables => {
      const t = ropeTables(height, width, this.hostPeriods, { prefix, normalizeCoords: this.config.posEmbedRopeNormalizeCoords, augmentation });
      const rows = prefix + height * width;
      return { cos: tf.tensor2d(t.cos, [rows, this.headDim]), sin: tf.tensor2d(t.sin, [rows, this.headDim]) };
    };
    if (augmentation) return make(); // disposed by the caller's tidy
    const key = `${tf.getBackend()}:${height}x${width}+${prefix}`;
    let hit = this.cache.get(key);
    if (!hit) {
      const t = make();
      hit = { cos: tf.keep(t.cos), sin: tf.keep(t.sin) };
      this.cache.set(key, hit);
    }
    return hit;
  }

  private drawAugmentation(): RopeAugmentation | undefined {
    const { posEmbedRopeShiftCoords: shift, posEmbedRopeJitterCoords: jitter, posEmbedRopeRescaleCoords: rescale } = this.config;
    if (shift === null && jitter === null && rescale === null) return undefined;
    const uniform = (lo: number, hi: number) => lo + (hi - lo) * Math.random();
    const aug: RopeAugmentation = {};
    if (shift !== null) aug.shift = [f32(uniform(-shift, shift)), f32(uniform(-shift, shift))];
    if (jitter !== null) aug.jitter = [f32(Math.exp(uniform(-Math.log(jitter), Math.log(jitter)))), f32(Math.exp(uniform(-Math.log(jitter), Math.log(jitter))))];
    if (rescale !== null) aug.rescale = f32(Math.exp(uniform(-Math.log(rescale), Math.log(rescale))));
    return aug;
  }

  /** The host copy must follow the buffer; a buffer replaced behind our back cannot be read synchronously. */
  private checkPeriodsInSync(): void {
    if (this.periods.allocated && this.periods.value !== this.syncedWith) {
      throw new Error('rope_embed.periods was replaced outside Dinov3ViT.loadStateDict / RopePositionEmbedding.setPeriods; load weights through those');
    }
  }

  /** Frees the cached tables (they are rebuilt on demand). */
  clearCache(): void {
    for (const t of this.cache.values()) {
      t.cos.dispose();
      t.sin.dispose();
    }
    this.cache.clear();
  }

  override dispose(): void {
    this.clearCache();
    super.dispose();
    this.syncedWith = null;
  }
}
