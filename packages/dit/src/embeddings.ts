import * as tf from '@tensorflow/tfjs-core';
import { Embedding, Linear, Module, type SeededRandom, silu } from '@svg/nn';
import { FREQUENCY_EMBEDDING_SIZE } from './config';

/** Timesteps or labels given on the host (exact tables, no read-back needed) or as a 1-D tensor. */
export type BatchValues = tf.Tensor1D | ArrayLike<number>;

export function isTensor(v: BatchValues): v is tf.Tensor1D {
  return v instanceof tf.Tensor;
}

/**
 * Fixed 2-D sin-cos position table (MAE formula, float64 then float32), `[gridSize², dim]` row-major tokens.
 * The first half encodes the column, the second the row; each half is `[sin(p·ω), cos(p·ω)]` with
 * `ω_i = 10000^(−i/(dim/4))`.
 */
export function sinCosPositionTable(dim: number, gridSize: number): Float32Array {
  const quarter = dim / 4;
  const out = new Float32Array(gridSize * gridSize * dim);
  for (let n = 0; n < gridSize * gridSize; n++) {
    const coords = [n % gridSize, Math.floor(n / gridSize)]; // width coordinate first
    coords.forEach((p, half) => {
      for (let i = 0; i < quarter; i++) {
        const arg = p / 10000 ** (i / quarter);
        out[n * dim + half * 2 * quarter + i] = Math.sin(arg);
        out[n * dim + half * 2 * quarter + quarter + i] = Math.cos(arg);
      }
    });
  }
  return out;
}

/** `freqs_k = exp(−ln(10000)·k/half)`, `k < half`. */
function timestepFrequencies(half: number): Float64Array {
  return Float64Array.from({ length: half }, (_, k) => Math.exp((-Math.log(10000) * k) / half));
}

/** `[cos(t·freqs), sin(t·freqs)]` per timestep, computed on the host in float64: `[t.length · dim]`. */
export function timestepTable(t: ArrayLike<number>, dim = FREQUENCY_EMBEDDING_SIZE): Float32Array {
  const half = dim / 2;
  const freqs = timestepFrequencies(half);
  const out = new Float32Array(t.length * dim);
  for (let b = 0; b < t.length; b++) {
    for (let k = 0; k < half; k++) {
      const arg = t[b] * freqs[k];
      out[b * dim + k] = Math.cos(arg);
      out[b * dim + half + k] = Math.sin(arg);
    }
  }
  return out;
}

// Cody–Waite split of 2π: C1 has 8 significant bits, so k·C1 is exact in float32 for |k| < 2^16.
const TWO_PI_HI = 6.28125;
const TWO_PI_LO = 2 * Math.PI - TWO_PI_HI;
// Taylor coefficients in h² for sin(h)/h and cos(h) on |h| ≤ π/2 (truncation error < 1e-9).
const SIN_COEFFS = [1, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800, 1 / 6227020800];
const COS_COEFFS = [1, -1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800, 1 / 479001600, -1 / 87178291200];

function horner(x: tf.Tensor, coeffs: number[]): tf.Tensor {
  let acc: tf.Tensor = tf.fill(x.shape, coeffs[coeffs.length - 1]);
  for (let i = coeffs.length - 2; i >= 0; i--) acc = tf.add(tf.mul(acc, x), coeffs[i]);
  return acc;
}

/**
 * cos and sin on the device to ~2e-7, on every backend. WebGPU's native sin/cos are only ~2e-4 accurate, so this
 * reduces to r ∈ [−π, π], evaluates sin and cos of r/2 by polynomials and doubles the angle.
 */
export function accurateCosSin(a: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const k = tf.round(tf.mul(a, 1 / (2 * Math.PI)));
    const r = tf.sub(tf.sub(a, tf.mul(k, TWO_PI_HI)), tf.mul(k, TWO_PI_LO));
    const h = tf.mul(r, 0.5);
    const h2 = tf.square(h);
    const s = tf.mul(h, horner(h2, SIN_COEFFS));
    const c = horner(h2, COS_COEFFS);
    return [tf.sub(1, tf.mul(2, tf.square(s))), tf.mul(2, tf.mul(s, c))];
  }) as [tf.Tensor, tf.Tensor];
}

/** The `[B, dim]` timestep features: exact host table for host values, {@link accurateCosSin} for tensors. */
export function timestepFeatures(t: BatchValues, dim = FREQUENCY_EMBEDDING_SIZE): tf.Tensor2D {
  if (!isTensor(t)) return tf.tensor2d(timestepTable(t, dim), [t.length, dim]);
  return tf.tidy(() => {
    const freqs = tf.tensor2d(Float32Array.from(timestepFrequencies(dim / 2)), [1, dim / 2]);
    const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), freqs);
    const [cos, sin] = accurateCosSin(args);
    return tf.concat([cos, sin], 1) as tf.Tensor2D;
  });
}

/** Upstream `TimestepEmbedder`: `mlp.2(SiLU(mlp.0(features(t))))` (`mlp.1` is the parameterless SiLU). */
export class TimestepEmbedder extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(readonly hiddenSize: number) {
    super();
    this.fc1 = new Linear(FREQUENCY_EMBEDDING_SIZE, hiddenSize);
    this.fc2 = new Linear(hiddenSize, hiddenSize);
    this.childList('mlp', [this.fc1, new Module(), this.fc2]);
  }

  forward(t: BatchValues): tf.Tensor2D {
    return tf.tidy(() => this.fc2.forward(silu(this.fc1.forward(timestepFeatures(t)))) as tf.Tensor2D);
  }
}

/**
 * Upstream `LabelEmbedder`: a table of `numClasses (+1 null row when dropout > 0)` vectors. In training mode each
 * label is replaced by the null class with probability `dropoutProb`, drawn from `random` on the host.
 */
export class LabelEmbedder extends Module {
  readonly table: Embedding;

  constructor(readonly numClasses: number, readonly hiddenSize: number, readonly dropoutProb: number) {
    super();
    this.table = this.child('embedding_table', new Embedding(numClasses + (dropoutProb > 0 ? 1 : 0), hiddenSize));
  }

  /**
   * `labels` `[B]` int → `[B, hidden]`. `forceDropIds` (entries equal to 1 are dropped) applies in any mode and
   * replaces random dropout, as upstream.
   */
  forward(labels: BatchValues, random: SeededRandom, forceDropIds?: BatchValues): tf.Tensor2D {
    return tf.tidy(() => {
      const n = isTensor(labels) ? labels.shape[0] : labels.length;
      let drop: tf.Tensor | null = null;
      if (forceDropIds !== undefined) {
        drop = isTensor(forceDropIds) ? tf.equal(forceDropIds, 1) : tf.tensor1d(Array.from(forceDropIds, (v) => (v === 1 ? 1 : 0)), 'bool');
      } else if (this.training && this.dropoutProb > 0) {
        drop = tf.tensor1d(Array.from({ length: n }, () => (random.uniform() < this.dropoutProb ? 1 : 0)), 'bool');
      }
      let ids: tf.Tensor = isTensor(labels) ? tf.cast(labels, 'int32') : tf.tensor1d(Array.from(labels), 'int32');
      if (drop) ids = tf.where(drop, tf.fill([n], this.numClasses, 'int32'), ids);
      return this.table.forward(ids) as tf.Tensor2D;
    });
  }
}
