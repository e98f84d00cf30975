import * as tf from '@tensorflow/tfjs-core';
import type { Initializer } from './module';
import { SeededRandom } from './random';

/**
 * Initialisers matching PyTorch's defaults in distribution (not in exact values: weights are seeded on the host
 * by `setInitSeed`, so a model built twice with the same seed is identical on every backend).
 */
let rng = new SeededRandom(0);

/** Seeds every initialiser that follows. */
export function setInitSeed(seed: number): void {
  rng = new SeededRandom(seed);
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export const zeros: Initializer = (shape) => tf.zeros(shape);
export const ones: Initializer = (shape) => tf.ones(shape);
export const constant = (value: number): Initializer => (shape) => tf.fill(shape, value);
export const normal = (std: number, mean = 0): Initializer => (shape) => tf.tensor(rng.normalArray(size(shape), mean, std), shape);
export const uniform = (low: number, high: number): Initializer => (shape) => tf.tensor(rng.uniformArray(size(shape), low, high), shape);

/** Truncated normal on [mean - 2 std, mean + 2 std] (timm's `trunc_normal_` with its default bounds ±2). */
export const truncatedNormal = (std: number, a = -2 * std, b = 2 * std): Initializer => (shape) => {
  const n = size(shape);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = rng.normal() * std;
    while (v < a || v > b);
    out[i] = v;
  }
  return tf.tensor(out, shape);
};

/** Xavier/Glorot uniform for a weight with the given fan-in and fan-out. */
export const xavierUniform = (fanIn: number, fanOut: number): Initializer => {
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return uniform(-bound, bound);
};

/** PyTorch's default Linear/Conv init: kaiming_uniform(a=√5) for weights = U(±1/√fanIn); same bound for biases. */
export const torchDefault = (fanIn: number): Initializer => {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(-bound, bound);
};
