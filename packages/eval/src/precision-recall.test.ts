import { describe, expect, it } from 'vitest';
import { halfToNumber, numberToHalf } from '@svg/weights';
import { SeededRandom } from '@svg/nn';
import { jsGram, manifoldRadii, precisionRecall, roundToHalf } from './precision-recall';

describe('improved precision and recall', () => {
  const rng = new SeededRandom(11);
  const randomSet = (n: number, dim: number, shift = 0, scale = 1) => Float32Array.from({ length: n * dim }, () => shift + scale * rng.normal());

  it('rounds to float16 like @svg/weights numberToHalf / halfToNumber', () => {
    const xs = [0, -0, 1, 65504, 65519.99, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 1 + 2 ** -11, 1 + 3 * 2 ** -11, NaN, Infinity];
    for (let i = 0; i < 5000; i++) xs.push(rng.normal() * 10 ** Math.floor(rng.uniform() * 12 - 8));
    for (const x of xs) expect(roundToHalf(x)).toBe(halfToNumber(numberToHalf(x)));
  });

  it('jsGram computes A·Bᵀ', () => {
    const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const b = Float32Array.from([1, 0, -1, 0.5, 0.5, 0.5]);
    expect(Array.from(jsGram(a, 2, b, 2, 3))).toEqual([-2, 3, -2, 7.5]);
  });

  it('uses the k-th nearest other point as the radius and counts a distance equal to a radius as inside', async () => {
    // 1-d: reference 0, 1, 2, 3 (nearest neighbour at squared distance 1), samples 4 (exactly on the radius of 3),
    // 5.5 (outside every radius) and 10, 11 (a far pair: their radius 1 does not reach any reference point).
    const ref = Float32Array.from([0, 1, 2, 3]);
    const sample = Float32Array.from([4, 5.5, 10, 11]);
    for (const distances of ['float32', 'adm-float16'] as const) {
      const pr = await precisionRecall(ref, sample, 1, { k: 1, distances });
      expect(Array.from(pr.radiiRef)).toEqual([1, 1, 1, 1]);
      expect(Array.from(pr.radiiSample)).toEqual([2.25, 2.25, 1, 1]);
      expect(pr.precision).toBe(1 / 4);
      // Recall: (4 − 3)² = 1 ≤ 2.25 (the radius of sample 4), while (5.5 − 3)² = 6.25 > 2.25: only 3 is recalled.
      expect(pr.recall).toBe(1 / 4);
    }
    // k = 3 (ADM's): the point itself is the 0th neighbour, the radius is the 3rd other point.
    expect(Array.from(await manifoldRadii(ref, 1))).toEqual([9, 4, 4, 9]);
    await expect(manifoldRadii(ref.subarray(0, 3), 1)).rejects.toThrow(/at least 4 points/);
  });

  it('does not depend on the batch sizes or on the Gram kernel', async () => {
    const dim = 16;
    const ref = randomSet(90, dim);
    const sample = randomSet(70, dim, 0.3, 1.2);
    const fround32Gram = (a: Float32Array, m: number, b: Float32Array, n: number, d: number) => {
      const out = new Float32Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < d; t++) s = Math.fround(s + Math.fround(a[i * d + t] * b[j * d + t]));
          out[i * n + j] = s;
        }
      }
      return Promise.resolve(out);
    };
    for (const distances of ['float32', 'adm-float16'] as const) {
      const whole = await precisionRecall(ref, sample, dim, { distances });
      const batched = await precisionRecall(ref, sample, dim, { distances, rowBatchSize: 7, colBatchSize: 13 });
      const f32 = await precisionRecall(ref, sample, dim, { distances, gram: fround32Gram });
      expect(whole.precision).toBeGreaterThan(0);
      expect(whole.precision).toBeLessThan(1);
      expect(batched).toEqual(whole);
      expect([f32.precision, f32.recall]).toEqual([whole.precision, whole.recall]);
      for (let i = 0; i < 90; i++) expect(f32.radiiRef[i]).toBeCloseTo(whole.radiiRef[i], 3);
    }
    await expect(precisionRecall(ref, sample, dim, { gram: () => new Float32Array(3) })).rejects.toThrow(/gram returned 3 values/);
  });

  it('float16 distances differ from float32 ones, and fall back to float32 for a block that overflows float16', async () => {
    const dim = 8;
    const ref = randomSet(60, dim, 1, 3);
    const sample = randomSet(60, dim, 1.5, 3);
    const f32 = await precisionRecall(ref, sample, dim);
    const f16 = await precisionRecall(ref, sample, dim, { distances: 'adm-float16' });
    expect(f16.radiiRef).not.toEqual(f32.radiiRef);
    // Every value of f16 radii is a float16 number.
    for (const r of f16.radiiRef) expect(roundToHalf(r)).toBe(r);
    // Scaled by 100, squared norms pass 65504: float16 distances are infinite, so every block uses float32.
    const big = (x: Float32Array) => x.map((v) => v * 100);
    const f32Big = await precisionRecall(big(ref), big(sample), dim);
    const f16Big = await precisionRecall(big(ref), big(sample), dim, { distances: 'adm-float16' });
    expect(f16Big).toEqual(f32Big);
  });

  it('rejects malformed inputs', async () => {
    await expect(precisionRecall(new Float32Array(10), new Float32Array(12), 4)).rejects.toThrow(/4-dimensional/);
    await expect(precisionRecall(new Float32Array(40), new Float32Array(40), 4, { k: 0 })).rejects.toThrow(/k must be/);
  });
});
