// Shared by the tests: backends, seeded inputs, and "stock kernel vs BLAS kernel" comparisons.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'vitest';
import { blasAvailable, blasLoadError } from './addon';
import { blasKernelStats, registerBlasKernels, unregisterBlasKernels } from './register';

export const BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof BACKENDS)[number];

tf.env().set('PROD', true);

/** Fails (never skips) when the addon is missing: CI builds it, so a missing addon is a broken install. */
export function expectAddon(): void {
  expect(blasAvailable(), `the OpenBLAS addon did not load: ${blasLoadError()?.message} (run npm run build:native in packages/blas)`).toBe(true);
}

export async function useBackend(name: TestBackend): Promise<void> {
  expect(await tf.setBackend(name)).toBe(true);
  await tf.ready();
}

/** Deterministic values in [-1, 1). */
export function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export const randomTensor = (shape: number[], seed: number) => tf.tensor(seeded(shape.reduce((a, b) => a * b, 1), seed), shape);

type Result = tf.Tensor | tf.Tensor[];

/** Runs `f` on the current backend and returns its outputs' values (concatenated); no tensor outlives the call. */
export async function values(f: () => Result): Promise<Float32Array[]> {
  const before = tf.memory().numTensors;
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const data = await Promise.all(list.map(async (t) => Float32Array.from((await t.data()) as Float32Array)));
  tf.dispose(list);
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return data;
}

/** max |actual − expected| / max |expected| over all outputs. */
export function relativeError(actual: Float32Array[], expected: Float32Array[]): number {
  expect(actual.map((a) => a.length)).toEqual(expected.map((e) => e.length));
  let diff = 0;
  let scale = 0;
  actual.forEach((a, j) => {
    const e = expected[j]!;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i]! - e[i]!));
      scale = Math.max(scale, Math.abs(e[i]!));
    }
  });
  expect(Number.isFinite(diff)).toBe(true);
  return diff / Math.max(scale, 1e-30);
}

const nativeCount = (kernel: string) => blasKernelStats()[kernel]?.native ?? 0;

export interface CompareOptions {
  /** Kernels that must run through BLAS at least once (default: none checked). */
  kernels?: string[];
  /** Backend computing the expected values without BLAS (default: the one under test). */
  reference?: TestBackend;
}

/**
 * Runs `f` with the stock kernels (on `reference`), then with the BLAS kernels registered on `backend`, checks that
 * each of `kernels` ran natively, and returns the relative error. Leaves the stock kernels registered.
 */
export async function blasVsStock(backend: TestBackend, f: () => Result, options: CompareOptions = {}): Promise<number> {
  unregisterBlasKernels();
  await useBackend(options.reference ?? backend);
  const expected = await values(f);
  await useBackend(backend);
  expect(registerBlasKernels(backend)).toBe(true);
  try {
    const counts = (options.kernels ?? []).map(nativeCount);
    const actual = await values(f);
    (options.kernels ?? []).forEach((k, i) => expect(nativeCount(k), `${k} did not run through BLAS`).toBeGreaterThan(counts[i]!));
    return relativeError(actual, expected);
  } finally {
    unregisterBlasKernels();
  }
}
