import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { blasKernelBackends, blasKernelStats, registerBlasKernels, unregisterBlasKernels } from './register';
import { expectAddon, randomTensor, relativeError, useBackend, values } from './test-util';

// This file runs in its own process, so the wasm backend is not initialised yet when the kernels are registered.
describe('registering before the backend starts', () => {
  it('keeps the stock wasm kernels set up, so fallbacks work', async () => {
    expectAddon();
    expect(tf.engine().registry['wasm']).toBeUndefined();
    expect(registerBlasKernels('wasm')).toBe(true);
    expect(blasKernelBackends()).toEqual(['wasm']);
    await useBackend('wasm');
    const f = () => tf.matMul(randomTensor([2, 1, 4, 5], 1), randomTensor([1, 3, 5, 6], 2)); // partial broadcast: stock kernel
    const fallbacks = blasKernelStats()[tf.BatchMatMul]?.fallback ?? 0;
    const actual = await values(f);
    expect(blasKernelStats()[tf.BatchMatMul]!.fallback).toBe(fallbacks + 1);
    unregisterBlasKernels();
    expect(blasKernelBackends()).toEqual([]);
    await useBackend('cpu');
    expect(relativeError(actual, await values(f))).toBeLessThan(1e-5);
  });

  it('throws a clear error when the backend package is not loaded', () => {
    expect(() => registerBlasKernels('cpu')).not.toThrow();
    unregisterBlasKernels();
    // Simulate a backend whose kernels are absent by removing cpu's BatchMatMul for a moment.
    const stock = tf.getKernel(tf.BatchMatMul, 'cpu');
    tf.unregisterKernel(tf.BatchMatMul, 'cpu');
    try {
      expect(() => registerBlasKernels('cpu')).toThrow(/import '@tensorflow\/tfjs-backend-cpu' first/);
    } finally {
      tf.registerKernel(stock);
    }
  });
});
