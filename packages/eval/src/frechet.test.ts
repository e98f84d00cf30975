import { describe, expect, it } from 'vitest';
import { FeatureStatsAccumulator, frechetDistance, gaussianStats, pivotedCholesky, sqrtmPsd, symmetricEigen, symmetricEigenvalues, traceSqrtProduct } from './frechet';
import { SeededRandom } from '@svg/nn';

/** A random orthogonal matrix (Gram–Schmidt of a Gaussian matrix). */
function orthogonal(n: number, rng: SeededRandom): Float64Array {
  const q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    for (let k = 0; k < j; k++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += v[i] * q[i * n + k];
      for (let i = 0; i < n; i++) v[i] -= d * q[i * n + k];
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < n; i++) q[i * n + j] = v[i] / norm;
  }
  return q;
}

/** Q · diag(d) · Qᵀ. */
function withEigen(q: Float64Array, d: number[]): Float64Array {
  const n = d.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) out[i * n + j] += q[i * n + k] * d[k] * q[j * n + k];
  return out;
}

describe('Fréchet distance', () => {
  const rng = new SeededRandom(3);
  const n = 12;
  const q = orthogonal(n, rng);

  it('eigen-decomposes a symmetric matrix', () => {
    const d = Array.from({ length: n }, (_, i) => (i + 1) * 0.7);
    const { values } = symmetricEigen(withEigen(q, d), n);
    expect([...values].sort((a, b) => a - b)).toEqual(d.map((x) => expect.closeTo(x, 10)));
  });

  it('takes the PSD square root', () => {
    const d = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : i + 0.5));
    const s = sqrtmPsd(withEigen(q, d), n);
    const expected = withEigen(q, d.map(Math.sqrt));
    // Zero eigenvalues come back as ±1e-16, whose square roots are ~1e-8: that is the attainable accuracy.
    for (let i = 0; i < n * n; i++) expect(s[i]).toBeCloseTo(expected[i], 7);
  });

  it('equals ‖Δμ‖² + Σ(√a − √b)² for covariances sharing eigenvectors, singular ones included', () => {
    const da = Array.from({ length: n }, (_, i) => (i < 3 ? 0 : 1 + i));
    const db = Array.from({ length: n }, (_, i) => 0.5 + ((i * 7) % 5));
    const meanA = Float64Array.from({ length: n }, () => rng.normal());
    const meanB = Float64Array.from({ length: n }, () => rng.normal());
    const a = { dim: n, count: 100, mean: meanA, cov: withEigen(q, da) };
    const b = { dim: n, count: 100, mean: meanB, cov: withEigen(q, db) };
    let expected = 0;
    for (let i = 0; i < n; i++) expected += (meanA[i] - meanB[i]) ** 2 + (Math.sqrt(da[i]) - Math.sqrt(db[i])) ** 2;
    expect(Math.abs(frechetDistance(a, b) - expected) / expected).toBeLessThan(1e-7);
    expect(frechetDistance(a, a)).toBeCloseTo(0, 6);
    // Ranks 2 and 3 (few vectors, many dimensions): the trace comes from (L₁ᵀL₂)(L₁ᵀL₂)ᵀ instead of L₁ᵀΣ₂L₁.
    const la = Array.from({ length: n }, (_, i) => (i === 2 ? 3 : i === 7 ? 0.5 : 0));
    const lb = Array.from({ length: n }, (_, i) => (i === 2 ? 1 : i === 5 ? 2 : i === 7 ? 4 : 0));
    const lowRank = Math.sqrt(3) * 1 + Math.sqrt(0.5) * 2;
    expect(traceSqrtProduct(withEigen(q, la), withEigen(q, lb), n)).toBeCloseTo(lowRank, 7);
    expect(traceSqrtProduct(withEigen(q, lb), withEigen(q, la), n)).toBeCloseTo(lowRank, 7);
    expect(() => frechetDistance(a, { ...b, dim: n - 1 })).toThrow(/dimensions differ/);
  });

  it('streams mean and covariance like one pass over all vectors (numpy.cov, unbiased)', () => {
    const dim = 3;
    const rows = Array.from({ length: 50 }, () => [1e4 + rng.normal(), 2 * rng.normal(), rng.normal() - 3]);
    const acc = new FeatureStatsAccumulator(dim);
    acc.add(rows.slice(0, 20).flat());
    acc.add(rows.slice(20).flat());
    const streamed = acc.result();
    const whole = gaussianStats(rows.flat(), dim);
    const mean = [0, 1, 2].map((j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);
    for (let j = 0; j < dim; j++) expect(streamed.mean[j]).toBeCloseTo(mean[j], 9);
    for (let a = 0; a < dim; a++) {
      for (let b = 0; b < dim; b++) {
        const c = rows.reduce((s, r) => s + (r[a] - mean[a]) * (r[b] - mean[b]), 0) / (rows.length - 1);
        expect(streamed.cov[a * dim + b]).toBeCloseTo(c, 9);
        expect(whole.cov[a * dim + b]).toBeCloseTo(c, 9);
      }
    }
    expect(() => acc.add([1, 2])).toThrow(/3-dimensional/);
    expect(() => new FeatureStatsAccumulator(2).result()).toThrow(/at least 2/);
  });

  it('returns orthonormal eigenvectors with A·v = λ·v, and the same eigenvalues without vectors', () => {
    const m = 40;
    const a = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j <= i; j++) a[i * m + j] = a[j * m + i] = rng.normal();
    a[3 * m + 3] = a[3 * m + 3] + 5; // a spread-out spectrum with both signs
    const { values, vectors } = symmetricEigen(a, m);
    for (let k = 1; k < m; k++) expect(values[k]).toBeGreaterThanOrEqual(values[k - 1]);
    for (let k = 0; k < m; k++) {
      for (let i = 0; i < m; i++) {
        let av = 0;
        for (let j = 0; j < m; j++) av += a[i * m + j] * vectors[j * m + k];
        expect(av).toBeCloseTo(values[k] * vectors[i * m + k], 11);
      }
      for (let l = 0; l <= k; l++) {
        let dot = 0;
        for (let i = 0; i < m; i++) dot += vectors[i * m + k] * vectors[i * m + l];
        expect(dot).toBeCloseTo(k === l ? 1 : 0, 12);
      }
    }
    const only = symmetricEigenvalues(a, m);
    for (let k = 0; k < m; k++) expect(only[k]).toBeCloseTo(values[k], 11);
    expect(symmetricEigenvalues([4], 1)[0]).toBe(4);
    expect(Array.from(symmetricEigenvalues([2, 1, 1, 2], 2)).map((x) => +x.toFixed(12))).toEqual([1, 3]);
    // Already tridiagonal, block-diagonal and diagonal rows: the steps that need no reflection.
    const b = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      b[i * m + i] = rng.normal();
      if (i % 3 !== 2 && i + 1 < m) b[i * m + i + 1] = b[(i + 1) * m + i] = rng.normal();
      if (i % 7 === 0 && i + 5 < m) b[i * m + i + 5] = b[(i + 5) * m + i] = rng.normal();
    }
    const bv = symmetricEigen(b, m).values;
    const bo = symmetricEigenvalues(b, m);
    for (let k = 0; k < m; k++) expect(bo[k]).toBeCloseTo(bv[k], 11);
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(/2×2/);
  });

  it('factors a singular PSD matrix by pivoted Cholesky, revealing its rank', () => {
    const d = Array.from({ length: n }, (_, i) => (i % 4 === 1 ? 0 : 0.3 + i));
    const s = withEigen(q, d);
    const { factor, rank } = pivotedCholesky(s, n);
    expect(rank).toBe(d.filter((x) => x > 0).length);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let llt = 0;
        for (let k = 0; k < rank; k++) llt += factor[i * rank + k] * factor[j * rank + k];
        expect(llt).toBeCloseTo(s[i * n + j], 10);
      }
    }
    expect(pivotedCholesky(new Float64Array(n * n), n).rank).toBe(0);
  });

  it('tr((Σ₁Σ₂)^½) of non-commuting 2×2 covariances is √(tr Σ₁Σ₂ + 2√(det Σ₁ det Σ₂))', () => {
    for (let trial = 0; trial < 20; trial++) {
      const spd = () => {
        const [x, y, z, w] = [rng.normal(), rng.normal(), rng.normal(), rng.normal()];
        return [x * x + y * y, x * z + y * w, x * z + y * w, z * z + w * w];
      };
      const a = spd();
      const b = trial === 0 ? [1, 1, 1, 1] : spd(); // trial 0: a singular Σ₂
      const tr = a[0] * b[0] + a[1] * b[2] + a[2] * b[1] + a[3] * b[3];
      const det = (m: number[]) => Math.max(0, m[0] * m[3] - m[1] * m[2]);
      const expected = Math.sqrt(tr + 2 * Math.sqrt(det(a) * det(b)));
      expect(traceSqrtProduct(a, b, 2)).toBeCloseTo(expected, 10);
    }
  });

  it("ADM's float32 mean (row-by-row float32 sums) and float32 ‖μ₁ − μ₂‖²", () => {
    // 2^24 + 1 + 1 in float32 stays 2^24 (round half to even), so the float32 mean is 2^24 / 3, not (2^24 + 2) / 3.
    const rows = [16777216, 0, 1, 0, 1, 0];
    expect(gaussianStats(rows, 2).mean[0]).toBe((16777216 + 2) / 3);
    expect(gaussianStats(rows, 2, { float32Mean: true }).mean[0]).toBe(Math.fround(16777216 / 3));
    const acc = new FeatureStatsAccumulator(2);
    acc.add(rows.slice(0, 2));
    acc.add(rows.slice(2));
    expect(acc.result({ float32Mean: true }).mean[0]).toBe(Math.fround(16777216 / 3));
    // The mean term: float32 differences, a float32 squared norm.
    const zero = new Float64Array(4);
    const a = { dim: 2, count: 3, mean: Float64Array.from([1 + 2 ** -30, 0.1]), cov: zero };
    const b = { dim: 2, count: 3, mean: Float64Array.from([1, 0]), cov: zero };
    expect(frechetDistance(a, b)).toBeCloseTo(2 ** -60 + 0.01, 15);
    expect(frechetDistance(a, b, { float32MeanTerm: true })).toBe(Math.fround(Math.fround(0.1) ** 2));
  });

  it('streams 2023-d (sFID) features like a direct two-pass computation', () => {
    const dim = 2023;
    const count = 6;
    const rows = Array.from({ length: count }, () => Float32Array.from({ length: dim }, () => rng.normal()));
    const acc = new FeatureStatsAccumulator(dim);
    for (const r of rows) acc.add(r);
    const { mean, cov } = acc.result();
    for (const [x, y] of [[0, 0], [5, 2022], [2022, 2022], [1000, 1001], [2019, 2021]]) {
      const mx = rows.reduce((s, r) => s + r[x], 0) / count;
      const my = rows.reduce((s, r) => s + r[y], 0) / count;
      expect(mean[x]).toBeCloseTo(mx, 12);
      const c = rows.reduce((s, r) => s + (r[x] - mx) * (r[y] - my), 0) / (count - 1);
      expect(cov[x * dim + y]).toBeCloseTo(c, 12);
      expect(cov[y * dim + x]).toBe(cov[x * dim + y]);
    }
  });
});
