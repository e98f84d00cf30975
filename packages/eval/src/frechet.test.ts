import { describe, expect, it } from 'vitest';
import { FeatureStatsAccumulator, frechetDistance, gaussianStats, sqrtmPsd, symmetricEigen } from './frechet';
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
});
