import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planMatMul } from './matmul';
import { blasKernelStats, registerBlasKernels, unregisterBlasKernels } from './register';
import { BACKENDS, blasVsStock, expectAddon, randomTensor, relativeError, seeded, useBackend, values } from './test-util';

const TOL = 1e-5;
const BMM = tf.BatchMatMul;
const FUSED = tf._FusedMatMul;

/** Naive 2-D product of row-major [m, k]·[k, n]. */
function naiveMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) c[i * n + j] += a[i * k + p]! * b[p * n + j]!;
  return c;
}

describe('planMatMul', () => {
  it('plans batches, single-matrix broadcasts and merges a broadcast B into one product', () => {
    expect(planMatMul([2, 3, 8, 5], [2, 3, 5, 7], false, false)).toMatchObject({ batch: 6, m: 8, n: 7, k: 5, strideA: 40, strideB: 35, outShape: [2, 3, 8, 7] });
    expect(planMatMul([1, 4, 6], [3, 5, 6], false, true)).toMatchObject({ batch: 3, m: 4, n: 5, k: 6, strideA: 0, strideB: 30, outShape: [3, 4, 5] });
    expect(planMatMul([2, 3, 8, 5], [5, 7], false, false)).toMatchObject({ batch: 1, m: 48, n: 7, k: 5, outShape: [2, 3, 8, 7] });
    expect(planMatMul([2, 1, 4, 5], [1, 3, 5, 6], false, false)).toBe('partial batch broadcast');
    expect(planMatMul([4, 5], [6, 7], false, false)).toBe('inner dimensions differ');
    expect(planMatMul([0, 5], [5, 7], false, false)).toBe('empty tensor');
  });
});

describe.each(BACKENDS)('BLAS matmul kernels on %s', (backend) => {
  beforeAll(() => expectAddon());
  afterAll(() => unregisterBlasKernels());

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('2-D matMul transposeA=%s transposeB=%s matches the stock kernel', async (tA, tB) => {
    const err = await blasVsStock(
      backend,
      () => tf.matMul(randomTensor(tA ? [19, 13] : [13, 19], 1), randomTensor(tB ? [11, 19] : [19, 11], 2), tA, tB),
      { kernels: [BMM] },
    );
    expect(err).toBeLessThan(TOL);
  });

  it('2-D matMul matches a naive JS product', async () => {
    await useBackend(backend);
    expect(registerBlasKernels(backend)).toBe(true);
    try {
      const [m, k, n] = [17, 33, 9];
      const [a, b] = [seeded(m * k, 3), seeded(k * n, 4)];
      const [got] = await values(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])));
      expect(relativeError([got!], [naiveMatMul(a, b, m, k, n)])).toBeLessThan(TOL);
    } finally {
      unregisterBlasKernels();
    }
  });

  it.each([
    ['3-D batched', [4, 6, 5], [4, 5, 7], false, false],
    ['4-D q·kᵀ', [2, 3, 8, 6], [2, 3, 8, 6], false, true],
    ['4-D aᵀ·b', [2, 3, 6, 8], [2, 3, 6, 5], true, false],
    ['broadcast of one B [5, 7]', [2, 3, 8, 5], [5, 7], false, false],
    ['broadcast of A with batch 1', [1, 4, 6], [3, 6, 5], false, false],
    ['broadcast of one transposed B', [3, 6, 4], [5, 6], true, true],
  ])('%s matches the stock kernel', async (_name, aShape, bShape, tA, tB) => {
    const err = await blasVsStock(backend, () => tf.matMul(randomTensor(aShape as number[], 5), randomTensor(bShape as number[], 6), tA as boolean, tB as boolean), {
      kernels: [BMM],
    });
    expect(err).toBeLessThan(TOL);
  });

  it('falls back to the stock kernel for a partial batch broadcast, with the right result', async () => {
    const before = blasKernelStats()[BMM]?.fallback ?? 0;
    const err = await blasVsStock(backend, () => tf.matMul(randomTensor([2, 1, 4, 5], 7), randomTensor([1, 3, 5, 6], 8)));
    expect(err).toBeLessThan(TOL);
    expect(blasKernelStats()[BMM]!.fallback).toBe(before + 1);
    expect(blasKernelStats()[BMM]!.lastFallbackReason).toBe('partial batch broadcast');
  });

  // Reference: the cpu backend's stock kernel. Stock wasm _FusedMatMul is wrong when a batched A meets a single B
  // (max error 9 on [2,9,12]·[12,10], tfjs 4.22) and refuses scalar biases; the BLAS kernel handles both.
  it.each(['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const)('fused matMul + bias + %s matches the stock cpu kernel', async (activation) => {
    const err = await blasVsStock(
      backend,
      () =>
        tf.fused.matMul({
          a: randomTensor([2, 9, 12], 9),
          b: randomTensor([12, 10], 10),
          bias: randomTensor([10], 11),
          activation,
          preluActivationWeights: activation === 'prelu' ? randomTensor([10], 12) : undefined,
          leakyreluAlpha: 0.3,
        }),
      { kernels: [FUSED], reference: 'cpu' },
    );
    expect(err).toBeLessThan(TOL);
  });

  it('fused matMul with a scalar bias and transposes, and with a rank-2 bias (stock fallback)', async () => {
    const scalar = await blasVsStock(
      backend,
      () => tf.fused.matMul({ a: randomTensor([12, 9], 13), b: randomTensor([10, 12], 14), transposeA: true, transposeB: true, bias: tf.scalar(0.25), activation: 'relu' }),
      { kernels: [FUSED], reference: 'cpu' },
    );
    expect(scalar).toBeLessThan(TOL);
    const before = blasKernelStats()[FUSED]?.fallback ?? 0;
    const rank2Bias = () => tf.fused.matMul({ a: randomTensor([9, 12], 15), b: randomTensor([12, 10], 16), bias: randomTensor([9, 10], 17) });
    if (backend === 'cpu') {
      expect(await blasVsStock(backend, rank2Bias)).toBeLessThan(TOL);
    } else {
      // Stock wasm refuses rank-2 biases; the fallback keeps that behaviour.
      expect(registerBlasKernels(backend)).toBe(true);
      try {
        expect(() => tf.tidy(rank2Bias)).toThrow(/only supports rank-1 bias/);
      } finally {
        unregisterBlasKernels();
      }
    }
    expect(blasKernelStats()[FUSED]!.fallback).toBe(before + 1);
    expect(blasKernelStats()[FUSED]!.lastFallbackReason).toBe('bias of shape [9,10]');
  });

  it('gradients through matMul and fused matMul (linear and relu) match the stock kernels', async () => {
    const w = () => randomTensor([2, 3, 8, 7], 20);
    const grads = () =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, b, false, true), w())))([randomTensor([2, 3, 8, 5], 21), randomTensor([2, 3, 7, 5], 22)]);
    expect(await blasVsStock(backend, grads, { kernels: [BMM] })).toBeLessThan(TOL);
    for (const activation of ['linear', 'relu'] as const) {
      const fusedGrads = () =>
        tf.grads((a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) =>
          tf.sum(tf.mul(tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation }), randomTensor([6, 4], 23))),
        )([randomTensor([6, 5], 24), randomTensor([5, 4], 25), randomTensor([4], 26)]);
      expect(await blasVsStock(backend, fusedGrads, { kernels: [BMM] })).toBeLessThan(TOL);
    }
  });

  it('registers once, restores the stock kernels, and refuses backends without host memory', async () => {
    await useBackend(backend);
    const stock = tf.getKernel(BMM, backend);
    expect(registerBlasKernels(backend)).toBe(true);
    const ours = tf.getKernel(BMM, backend);
    expect(ours).not.toBe(stock);
    expect(registerBlasKernels()).toBe(true);
    expect(tf.getKernel(BMM, backend)).toBe(ours);
    unregisterBlasKernels();
    expect(tf.getKernel(BMM, backend)).toBe(stock);
    expect(registerBlasKernels('webgpu')).toBe(false);
  });
});
