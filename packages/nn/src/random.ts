/**
 * Deterministic, seeded random numbers generated on the host (plain JavaScript), so that the same seed gives the
 * same noise on every tfjs backend (`tf.randomNormal` seeds are not reproducible across backends).
 *
 * Generator: xoshiro128** (Blackman & Vigna) seeded through splitmix32; uniforms use 53 random bits; normals use
 * Marsaglia's polar method (only `Math.log` and `Math.sqrt`; `sqrt` is exact in IEEE-754 and the float64 result
 * is rounded to float32, so engines agree).
 */
import * as tf from '@tensorflow/tfjs-core';

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** A seedable stream of uniform and Gaussian numbers (xoshiro128**). */
export class SeededRandom {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  /** @param seed any integer in `[0, 2^53)` (e.g. a CLI `--seed`); equal seeds give equal streams. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be an integer in [0, 2^53), got ${seed}`);
    let x = (seed % TWO_POW_32) >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    // splitmix32 over (low word, then high word mixed in) fills the 128-bit state; never all zero.
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x ^ hi;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in `[0, 1)` with 53 random bits (float64). */
  uniform(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO_POW_53;
  }

  /** Standard normal N(0, 1) (float64), Marsaglia's polar method. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const r2 = u * u + v * v;
      if (r2 > 0 && r2 < 1) {
        const f = Math.sqrt((-2 * Math.log(r2)) / r2);
        this.spare = v * f;
        return u * f;
      }
    }
  }

  /** Fills `out` with N(0, 1) samples (rounded to float32) and returns it. */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }

  /** Fills `out` with uniforms in `[0, 1)`: 24 random bits each, so the float32 value is exact and never 1. */
  fillUniform(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = (this.nextUint32() >>> 8) / 16777216;
    return out;
  }

  /** Integer in `[0, n)`. */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** `n` samples of N(mean, std²) as float32. */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = this.fillNormal(new Float32Array(n));
    if (mean !== 0 || std !== 1) for (let i = 0; i < n; i++) out[i] = mean + std * out[i];
    return out;
  }

  /** `n` uniforms in `[low, high)` as float32. */
  uniformArray(n: number, low = 0, high = 1): Float32Array {
    const out = this.fillUniform(new Float32Array(n));
    if (low !== 0 || high !== 1) for (let i = 0; i < n; i++) out[i] = low + (high - low) * out[i];
    return out;
  }

  /** The generator's state (for checkpoints); `setState` restores it exactly. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.spare === null ? NaN : this.spare];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 5) throw new Error(`SeededRandom state must have 5 numbers, got ${state.length}`);
    [this.s0, this.s1, this.s2, this.s3] = state.slice(0, 4).map((x) => x >>> 0);
    this.spare = Number.isNaN(state[4]) ? null : state[4];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A seed or an existing generator (which then advances). */
export type SeedLike = number | SeededRandom;

function toRandom(seed: SeedLike): SeededRandom {
  return typeof seed === 'number' ? new SeededRandom(seed) : seed;
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/**
 * A float32 tensor of N(0, 1) noise drawn on the host from `seed` and uploaded: the same seed gives the same
 * tensor on every backend. Values fill the tensor in row-major order, so a batch's first image equals the
 * one-image tensor of the same seed.
 */
export function seededNormal(shape: readonly number[], seed: SeedLike): tf.Tensor {
  const data = toRandom(seed).fillNormal(new Float32Array(size(shape)));
  return tf.tensor(data, [...shape], 'float32');
}

/** A float32 tensor of uniforms in `[0, 1)` drawn on the host from `seed` (see {@link seededNormal}). */
export function seededUniform(shape: readonly number[], seed: SeedLike): tf.Tensor {
  const data = toRandom(seed).fillUniform(new Float32Array(size(shape)));
  return tf.tensor(data, [...shape], 'float32');
}
