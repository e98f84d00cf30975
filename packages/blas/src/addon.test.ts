import { describe, expect, it } from 'vitest';
import { blasAvailable, blasInfo, sgemm } from './addon';
import { expectAddon, relativeError, seeded } from './test-util';

/** Naive row-major reference for one matrix: C = op(A)·op(B) + beta·C. */
function naive(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, tA: boolean, tB: boolean, beta: number) {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (tA ? a[p * m + i]! : a[i * k + p]!) * (tB ? b[j * k + p]! : b[p * n + j]!);
      c[i * n + j] = s + beta * c[i * n + j]!;
    }
  }
}

describe('sgemm addon', () => {
  it('loads (a missing addon is a failure, not a skip)', () => {
    expectAddon();
    expect(blasAvailable()).toBe(true);
    expect(blasInfo()!.config).toMatch(/OpenBLAS/);
  });

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('matches a naive product with transA=%s transB=%s, batched, strides and beta', (tA, tB) => {
    const [batch, m, n, k] = [3, 5, 7, 4];
    const a = seeded(batch * m * k, 1);
    const b = seeded(k * n, 2); // one B, broadcast with stride 0
    const c = seeded(batch * m * n, 3);
    const expected = c.slice();
    for (let i = 0; i < batch; i++) {
      naive(a.subarray(i * m * k), b, expected.subarray(i * m * n), m, n, k, tA, tB, 0.5);
    }
    sgemm(a, b, c, batch, m, n, k, tA, tB, m * k, 0, 0.5);
    expect(relativeError([c], [expected])).toBeLessThan(1e-6);
  });

  it('refuses wrong types, short arrays, bad sizes and overlapping output with clear errors', () => {
    const a = new Float32Array(6);
    const c = new Float32Array(4);
    expect(() => sgemm(a, [1, 2] as unknown as Float32Array, c, 1, 2, 2, 3)).toThrow(/b must be a Float32Array/);
    expect(() => sgemm(a, new Float32Array(5), c, 1, 2, 2, 3)).toThrow(/b has 5 elements, the shapes need 6/);
    expect(() => sgemm(a, new Float32Array(6), c, 2, 2, 2, 3, false, false, 6, 0)).toThrow(/a has 6 elements, .* need 12/);
    expect(() => sgemm(a, new Float32Array(6), c, 1, 2.5, 2, 3)).toThrow(/m must be an integer/);
    expect(() => sgemm(a, new Float32Array(6), c, 1, -1, 2, 3)).toThrow(/m must be an integer/);
    const shared = new Float32Array(16);
    expect(() => sgemm(shared.subarray(0, 6), new Float32Array(6), shared.subarray(4, 8), 1, 2, 2, 3)).toThrow(/must not overlap/);
  });

  it('treats k = 0 as an empty sum (beta·C)', () => {
    const c = new Float32Array([1, 2, 3, 4]);
    sgemm(new Float32Array(0), new Float32Array(0), c, 1, 2, 2, 0, false, false, 0, 0, 0);
    expect(Array.from(c)).toEqual([0, 0, 0, 0]);
  });
});
