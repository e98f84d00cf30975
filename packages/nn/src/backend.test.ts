import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, initBackend } from './index';

describe('initBackend', () => {
  it('auto picks the fastest backend available in Node (wasm without tfjs-node)', async () => {
    const info = await initBackend('auto');
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it("'tensorflow' without tfjs-node says what to install", async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(BackendUnavailableError);
    await expect(initBackend('tensorflow')).rejects.toThrow(/@tensorflow\/tfjs-node/);
  });

  it('cpu can be chosen explicitly', async () => {
    expect((await initBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });
});

describe('initBackend with @svg/blas', () => {
  it('registers the OpenBLAS kernels on cpu and wasm in Node, and can leave them out', async () => {
    expect((await initBackend('wasm')).detail).toContain('OpenBLAS');
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    expect(Array.from(await tf.matMul(a, a).data())).toEqual([7, 10, 15, 22]);
    expect((await initBackend('cpu', { blas: false })).detail).not.toContain('OpenBLAS');
  });
});
