/** Mean and covariance of a set of feature vectors, in float64. */
export interface GaussianStats {
  /** Feature dimension. */
  dim: number;
  /** Number of vectors the statistics were computed from. */
  count: number;
  mean: Float64Array;
  /** Row-major `dim × dim` covariance (unbiased, `1/(n−1)`, as numpy's `np.cov(rowvar=False)`). */
  cov: Float64Array;
}

/**
 * Streams feature vectors into float64 sums and yields their mean and covariance. Vectors are shifted by the first
 * one before summing, so large common offsets do not cancel catastrophically.
 */
export class FeatureStatsAccumulator {
  private count = 0;
  private shift: Float64Array | null = null;
  private readonly sum: Float64Array;
  private readonly outer: Float64Array;

  constructor(readonly dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`feature dimension must be a positive integer, got ${dim}`);
    this.sum = new Float64Array(dim);
    this.outer = new Float64Array(dim * dim);
  }

  /** Adds `n` vectors, row-major `[n, dim]`. */
  add(features: ArrayLike<number>, n = features.length / this.dim): void {
    const d = this.dim;
    if (!Number.isInteger(n) || features.length !== n * d) throw new Error(`expected ${d}-dimensional features, got ${features.length} values for ${n} vectors`);
    if (n > 0 && !this.shift) this.shift = Float64Array.from({ length: d }, (_, j) => features[j]);
    const shift = this.shift!;
    const x = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        x[j] = features[i * d + j] - shift[j];
        if (!Number.isFinite(x[j])) throw new Error(`feature ${j} of vector ${this.count + i} is not finite (${features[i * d + j]})`);
        this.sum[j] += x[j];
      }
      for (let a = 0; a < d; a++) {
        const xa = x[a];
        const row = a * d;
        for (let b = a; b < d; b++) this.outer[row + b] += xa * x[b];
      }
    }
    this.count += n;
  }

  result(): GaussianStats {
    const { dim: d, count: n } = this;
    if (n < 2) throw new Error(`statistics need at least 2 vectors, got ${n}`);
    const mean = new Float64Array(d);
    const cov = new Float64Array(d * d);
    for (let j = 0; j < d; j++) mean[j] = this.sum[j] / n + this.shift![j];
    for (let a = 0; a < d; a++) {
      for (let b = a; b < d; b++) {
        const c = (this.outer[a * d + b] - (this.sum[a] * this.sum[b]) / n) / (n - 1);
        cov[a * d + b] = c;
        cov[b * d + a] = c;
      }
    }
    return { dim: d, count: n, mean, cov };
  }
}

/** Mean and covariance of `n` row-major `dim`-vectors. */
export function gaussianStats(features: ArrayLike<number>, dim: number): GaussianStats {
  const acc = new FeatureStatsAccumulator(dim);
  acc.add(features);
  return acc.result();
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix (cyclic Jacobi rotations, float64). Returns the eigenvalues
 * and the eigenvectors as the columns of a row-major matrix.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  if (a.length !== n * n) throw new Error(`expected a ${n}×${n} matrix, got ${a.length} values`);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const offNorm = () => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += a[i * n + j] ** 2;
    return Math.sqrt(s);
  };
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] ** 2;
  const tol = 1e-15 * Math.sqrt(total);
  for (let sweep = 0; sweep < 100 && offNorm() > tol; sweep++) {
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

/** The symmetric positive semi-definite square root of a symmetric PSD matrix (negative eigenvalues clipped to 0). */
export function sqrtmPsd(matrix: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(0, values[k]));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k] * r;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * vectors[j * n + k];
    }
  }
  return out;
}

/**
 * The Fréchet distance between two Gaussians, `‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2·tr((Σ₁Σ₂)^½)` — FID when the
 * features are Inception's. `tr((Σ₁Σ₂)^½)` is computed as `Σ √λ` over the eigenvalues of the symmetric PSD matrix
 * `Σ₁^½ Σ₂ Σ₁^½` (the same eigenvalues as `Σ₁Σ₂`), so it stays real and finite for singular covariances where a
 * general matrix square root of `Σ₁Σ₂` needs pytorch-fid's `eps·I` fallback.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) throw new Error(`feature dimensions differ: ${a.dim} vs ${b.dim}`);
  const n = a.dim;
  let meanTerm = 0;
  for (let i = 0; i < n; i++) meanTerm += (a.mean[i] - b.mean[i]) ** 2;
  let traces = 0;
  for (let i = 0; i < n; i++) traces += a.cov[i * n + i] + b.cov[i * n + i];
  const s1 = sqrtmPsd(a.cov, n);
  // m = s1 · Σ₂ · s1 (symmetric)
  const tmp = matmul(s1, b.cov, n);
  const m = matmul(tmp, s1, n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) m[i * n + j] = m[j * n + i] = 0.5 * (m[i * n + j] + m[j * n + i]);
  const { values } = symmetricEigen(m, n);
  let traceSqrt = 0;
  for (const v of values) traceSqrt += Math.sqrt(Math.max(0, v));
  return meanTerm + traces - 2 * traceSqrt;
}

function matmul(x: Float64Array, y: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const xik = x[i * n + k];
      if (xik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += xik * y[k * n + j];
    }
  }
  return out;
}
