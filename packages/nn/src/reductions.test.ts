import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, seededNormal, sumOverAxes } from './index';

/** float64 Σ over `axes` by explicit coordinates, the kept axes in order. */
function reference(x: Float32Array, shape: number[], axes: number[]): number[] {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const out = new Map<string, number>();
  for (let n = 0; n < x.length; n++) {
    let rest = n;
    const coord = new Array<number>(shape.length);
    for (let i = shape.length - 1; i >= 0; i--) {
      coord[i] = rest % shape[i]!;
      rest = Math.floor(rest / shape[i]!);
    }
    const key = kept.map((i) => coord[i]).join();
    out.set(key, (out.get(key) ?? 0) + x[n]!);
  }
  return [...out.values()];
}

describe('sumOverAxes', () => {
  it.each([
    [[4, 5, 6], [1]],
    [[4, 5, 6], [0, 2]],
    [[3, 2, 4, 5], [0, 1, 2, 3]],
    [[3, 2, 4, 5], [1, 3]],
    [[7], []],
    [[2, 0, 3], [1]],
  ])('shape %j over %j: the float64 sum by coordinates', (shape, axes) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) + 0.1);
    const got = Array.from(sumOverAxes(x, shape, axes));
    const want = n === 0 ? new Array<number>(got.length).fill(0) : reference(x, shape, axes);
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
  });
});

describe('Sum and Mean on wasm without @svg/blas', () => {
  beforeAll(async () => {
    await initBackend('wasm', { blas: false });
  });

  it('are accurate where float32 accumulation drifts (10⁶ × 0.1, a 256×392 mean)', async () => {
    expect((await tf.sum(tf.fill([1000, 1000], 0.1)).data())[0]).toBeCloseTo(1e6 * Math.fround(0.1), 2);
    const x = tf.add(tf.mul(seededNormal([2, 256, 392], 3), 0.5), 3);
    const xs = (await x.data()) as Float32Array;
    const want = [0, 1].map((b) => Array.from(xs.subarray(b * 100352, (b + 1) * 100352)).reduce((a, v) => a + v, 0) / 100352);
    const got = await tf.mean(x, [1, 2]).data();
    want.forEach((w, i) => expect(Math.abs(got[i]! - w) / w).toBeLessThan(1e-7));
    x.dispose();
  });

  it('keep tfjs shapes (keepDims, negative and non-adjacent axes) and leave int32 to the stock kernel', async () => {
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
    expect(tf.sum(x, [0, 2], true).shape).toEqual([1, 2, 1]);
    expect(Array.from(await tf.sum(x, [0, 2]).data())).toEqual([1 + 2 + 3 + 7 + 8 + 9, 4 + 5 + 6 + 10 + 11 + 12]);
    expect(Array.from(await tf.mean(x, -1).data())).toEqual([2, 5, 8, 11]);
    const i = tf.tensor1d([1, 2, 3], 'int32');
    const s = tf.sum(i);
    expect([s.dtype, (await s.data())[0]]).toEqual(['int32', 6]);
    tf.dispose([x, i, s]);
  });

  it('differentiate as before (their gradients are ordinary tfjs ops)', async () => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.mean(tf.square(t)))(x);
    expect(Array.from(await g.data())).toEqual([0.5, 1, 1.5, 2]);
    tf.dispose([x, g]);
  });
});
