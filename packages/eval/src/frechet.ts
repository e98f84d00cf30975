/** Mean and covariance of a set of feature vectors, in float64. */
export interface GaussianStats {
  /** Feature dimension. */
  dim: number;
  /** Number of vectors the statistics were computed from. */
  count: number;
  /** The mean vector (`dim` values). */
  mean: Float64Array;
  /** Row-major `dim × dim` covariance (unbiased, `1/(n−1)`, as numpy's `np.cov(rowvar=False)`). */
  cov: Float64Array;
}

/** Options of {@link FeatureStatsAccumulator.result} and {@link gaussianStats}. */
export interface StatsOptions {
  /** ADM's float32 mean of float32 features (`np.mean(axis=0)`) instead of pytorch-fid's float64 mean. */
  float32Mean?: boolean;
}

/** Options of {@link frechetDistance}. */
export interface FrechetOptions {
  /**
   * ADM's `‖μ₁ − μ₂‖²`: with float32 means (see {@link StatsOptions.float32Mean}) numpy takes the difference in
   * float32 and its dot product in float32; emulated as the float32 difference of the means rounded to float32 and
   * the float32 rounding of its exactly accumulated squared norm. Default false (pytorch-fid: float64 throughout).
   */
  float32MeanTerm?: boolean;
}

/** Vectors folded into the covariance sums per pass over them (a rank-`CHUNK` update keeps the `dim²` sums in cache). */
const CHUNK = 32;

/**
 * Streams feature vectors into float64 sums and yields their mean and covariance (pytorch-fid's
 * `calculate_activation_statistics` / numpy's `np.mean`, `np.cov(rowvar=False)`). Vectors are shifted by the first
 * one before summing, so large common offsets do not cancel catastrophically. Works for any dimension (2048 for FID,
 * 2023 for sFID); memory is `dim²` float64s, time `n·dim²/2` multiply-adds (about 1.5 s of CPU per 1,000 2048-d vectors).
 */
export class FeatureStatsAccumulator {
  private count = 0;
  private shift: Float64Array | null = null;
  private readonly sum: Float64Array;
  private readonly sum32: Float32Array;
  private readonly outer: Float64Array;

  /** @param dim the feature dimension (a positive integer). */
  constructor(readonly dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`feature dimension must be a positive integer, got ${dim}`);
    this.sum = new Float64Array(dim);
    this.sum32 = new Float32Array(dim);
    this.outer = new Float64Array(dim * dim);
  }

  /** Adds `n` vectors, row-major `[n, dim]` (e.g. a batch's `Float32Array` of features). */
  add(features: ArrayLike<number>, n = features.length / this.dim): void {
    const d = this.dim;
    if (!Number.isInteger(n) || features.length !== n * d) throw new Error(`expected ${d}-dimensional features, got ${features.length} values for ${n} vectors`);
    if (n > 0 && !this.shift) this.shift = Float64Array.from({ length: d }, (_, j) => features[j]);
    const shift = this.shift!;
    const { sum, sum32, outer } = this;
    // xt: the chunk's shifted vectors transposed, [d, CHUNK], so the inner loops run over contiguous memory.
    const xt = new Float64Array(d * CHUNK);
    for (let start = 0; start < n; start += CHUNK) {
      const m = Math.min(CHUNK, n - start);
      for (let t = 0; t < m; t++) {
        const base = (start + t) * d;
        for (let j = 0; j < d; j++) {
          const x = features[base + j] - shift[j];
          if (!Number.isFinite(x)) throw new Error(`feature ${j} of vector ${this.count + start + t} is not finite (${features[base + j]})`);
          xt[j * CHUNK + t] = x;
          sum[j] += x;
          sum32[j] += features[base + j];
        }
      }
      for (let a = 0; a < d; a++) {
        const oa = a * CHUNK;
        const row = a * d;
        let b = a;
        for (; b + 3 < d; b += 4) {
          const o0 = b * CHUNK;
          const o1 = o0 + CHUNK;
          const o2 = o1 + CHUNK;
          const o3 = o2 + CHUNK;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          for (let t = 0; t < m; t++) {
            const xa = xt[oa + t];
            s0 += xa * xt[o0 + t];
            s1 += xa * xt[o1 + t];
            s2 += xa * xt[o2 + t];
            s3 += xa * xt[o3 + t];
          }
          outer[row + b] += s0;
          outer[row + b + 1] += s1;
          outer[row + b + 2] += s2;
          outer[row + b + 3] += s3;
        }
        for (; b < d; b++) {
          const ob = b * CHUNK;
          let s = 0;
          for (let t = 0; t < m; t++) s += xt[oa + t] * xt[ob + t];
          outer[row + b] += s;
        }
      }
    }
    this.count += n;
  }

  /**
   * The mean and unbiased covariance of all vectors added so far (at least 2). With `float32Mean`, the mean is the
   * one ADM's `Evaluator.compute_statistics` gets from float32 features: `np.mean(axis=0)` stays float32 (row-by-row
   * float32 sums, then a float32 division); pytorch-fid's (the default) is float64. Use it with
   * `frechetDistance(a, b, { float32MeanTerm: true })` to reproduce ADM's FID to the last digits.
   */
  result(options: StatsOptions = {}): GaussianStats {
    const { dim: d, count: n } = this;
    if (n < 2) throw new Error(`statistics need at least 2 vectors, got ${n}`);
    const mean = new Float64Array(d);
    const cov = new Float64Array(d * d);
    for (let j = 0; j < d; j++) mean[j] = options.float32Mean ? Math.fround(this.sum32[j] / n) : this.sum[j] / n + this.shift![j];
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

/** Mean and covariance of `n` row-major `dim`-vectors (see {@link FeatureStatsAccumulator}). */
export function gaussianStats(features: ArrayLike<number>, dim: number, options: StatsOptions = {}): GaussianStats {
  const acc = new FeatureStatsAccumulator(dim);
  acc.add(features);
  return acc.result(options);
}

function hypot(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) return x * Math.sqrt(1 + (y / x) ** 2);
  return y === 0 ? 0 : y * Math.sqrt(1 + (x / y) ** 2);
}

/**
 * Householder reduction of the symmetric `n × n` matrix `w` (overwritten) to tridiagonal form (JAMA's `tred2`,
 * operating on the transpose so every inner loop is contiguous). Returns the diagonal `d` and the sub-diagonal `e`
 * (`e[0] = 0`); with `vectors`, `w` ends as the accumulated orthogonal transformation, transposed (row k = column k).
 */
function tridiagonalize(w: Float64Array, n: number, vectors: boolean): { d: Float64Array; e: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = w[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = w[j * n + i - 1];
        w[j * n + i] = 0;
        w[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        w[i * n + j] = f;
        const row = j * n;
        g = e[j] + w[row + j] * f;
        for (let k = j + 1; k < i; k++) {
          const v = w[row + k];
          g += v * d[k];
          e[k] += v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const row = j * n;
        for (let k = j; k < i; k++) w[row + k] -= f * e[k] + g * d[k];
        d[j] = w[row + i - 1];
        w[row + i] = 0;
      }
    }
    d[i] = h;
  }
  if (vectors) {
    for (let i = 0; i < n - 1; i++) {
      w[i * n + n - 1] = w[i * n + i];
      w[i * n + i] = 1;
      const h = d[i + 1];
      const ri = (i + 1) * n;
      if (h !== 0) {
        for (let k = 0; k <= i; k++) d[k] = w[ri + k] / h;
        for (let j = 0; j <= i; j++) {
          const rj = j * n;
          let g = 0;
          for (let k = 0; k <= i; k++) g += w[ri + k] * w[rj + k];
          for (let k = 0; k <= i; k++) w[rj + k] -= g * d[k];
        }
      }
      for (let k = 0; k <= i; k++) w[ri + k] = 0;
    }
    for (let j = 0; j < n; j++) {
      d[j] = w[j * n + n - 1];
      w[j * n + n - 1] = 0;
    }
    w[(n - 1) * n + n - 1] = 1;
  } else {
    for (let j = 0; j < n; j++) d[j] = w[j * n + j];
  }
  e[0] = 0;
  return { d, e };
}

/**
 * Implicit QL on the tridiagonal (`d`, `e`) from {@link tridiagonalize} (JAMA's `tql2`): `d` becomes the eigenvalues;
 * with `w` (the transposed transformation), its rows become the eigenvectors.
 */
function tridiagonalQL(d: Float64Array, e: Float64Array, n: number, w: Float64Array | null): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new Error('symmetric eigen-decomposition did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (w) {
            const ri = i * n;
            const rj = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const hk = w[rj + k];
              const wk = w[ri + k];
              w[rj + k] = s * wk + c * hk;
              w[ri + k] = c * wk - s * hk;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

function checkSquare(matrix: ArrayLike<number>, n: number): void {
  if (!Number.isInteger(n) || n < 1 || matrix.length !== n * n) throw new Error(`expected a ${n}×${n} matrix, got ${matrix.length} values`);
}

/**
 * Eigenvalues and eigenvectors of a symmetric `n × n` matrix, float64: Householder tridiagonalisation and implicit
 * QL (`tred2` / `tql2`), about `9n³` flops (2048×2048: roughly a minute in JavaScript). Returns the eigenvalues in
 * ascending order and the eigenvectors as the columns of a row-major matrix. Only the lower triangle is read.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  checkSquare(matrix, n);
  const w = lowerToFull(matrix, n);
  const { d, e } = tridiagonalize(w, n, true);
  tridiagonalQL(d, e, n, w);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const row = order[k] * n;
    for (let i = 0; i < n; i++) vectors[i * n + k] = w[row + i];
  }
  return { values, vectors };
}

/**
 * Eigenvalues (ascending) of a symmetric `n × n` matrix, float64, without eigenvectors: Householder
 * tridiagonalisation (`4n³/3` flops) and implicit QL (`O(n²)`). Only the lower triangle is read.
 */
export function symmetricEigenvalues(matrix: ArrayLike<number>, n: number): Float64Array {
  checkSquare(matrix, n);
  const w = lowerToFull(matrix, n);
  const { d, e } = tridiagonalize(w, n, false);
  tridiagonalQL(d, e, n, null);
  return d.sort();
}

/** A float64 copy of the symmetric matrix built from the lower triangle of `matrix`. */
function lowerToFull(matrix: ArrayLike<number>, n: number): Float64Array {
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = matrix[i * n + j];
      w[i * n + j] = v;
      w[j * n + i] = v;
    }
  }
  return w;
}

/** The symmetric positive semi-definite square root of a symmetric PSD matrix (negative eigenvalues clipped to 0). */
export function sqrtmPsd(matrix: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const out = new Float64Array(n * n);
  const scaled = new Float64Array(n);
  const col = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(0, values[k]));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      col[i] = vectors[i * n + k];
      scaled[i] = col[i] * r;
    }
    for (let i = 0; i < n; i++) {
      const vik = scaled[i];
      const row = i * n;
      for (let j = 0; j < n; j++) out[row + j] += vik * col[j];
    }
  }
  return out;
}

/**
 * Pivoted (rank-revealing) Cholesky factorisation of a symmetric PSD `n × n` matrix, float64 (left-looking, as
 * LAPACK's `dpstrf`): `matrix ≈ L·Lᵀ` with `L` an `n × rank` matrix in the matrix's own row order, `n·rank²/3` flops.
 * It stops when the largest remaining pivot is at most `tolerance` (default `n·ε·max diag`, LAPACK's), so the part
 * left out is rounding noise for a singular covariance (e.g. of fewer vectors than dimensions). `order` lists the
 * pivot rows: `factor[order[k]·rank + j]` is 0 for `j > k` (lower trapezoidal in that order).
 */
export function pivotedCholesky(matrix: ArrayLike<number>, n: number, tolerance?: number): { factor: Float64Array; rank: number; order: Int32Array } {
  checkSquare(matrix, n);
  const residual = Float64Array.from({ length: n }, (_, i) => matrix[i * n + i]);
  let maxDiag = 0;
  for (const v of residual) {
    if (!(v >= 0) && !(v < 0)) throw new Error('matrix has a non-finite diagonal');
    maxDiag = Math.max(maxDiag, v);
  }
  const tol = tolerance ?? n * 2 ** -52 * maxDiag;
  // rows[i] holds L's row i (columns 0..k-1) at i*n.
  const rows = new Float64Array(n * n);
  const done = new Uint8Array(n);
  const order = new Int32Array(n);
  let rank = 0;
  for (let k = 0; k < n; k++) {
    let p = -1;
    let best = -Infinity;
    for (let i = 0; i < n; i++) if (!done[i] && residual[i] > best) best = residual[(p = i)];
    if (p < 0 || !(best > tol)) break;
    done[p] = 1;
    order[k] = p;
    const pivot = Math.sqrt(best);
    const rp = p * n;
    rows[rp + k] = pivot;
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      const ri = i * n;
      let s0 = 0;
      let s1 = 0;
      let t = 0;
      for (; t + 1 < k; t += 2) {
        s0 += rows[ri + t] * rows[rp + t];
        s1 += rows[ri + t + 1] * rows[rp + t + 1];
      }
      if (t < k) s0 += rows[ri + t] * rows[rp + t];
      const l = (matrix[i * n + p] - s0 - s1) / pivot;
      rows[ri + k] = l;
      residual[i] -= l * l;
    }
    rank = k + 1;
  }
  let r = rank;
  for (let i = 0; i < n; i++) if (!done[i]) order[r++] = i;
  if (rank === n) return { factor: rows, rank, order };
  const factor = new Float64Array(n * rank);
  for (let i = 0; i < n; i++) factor.set(rows.subarray(i * n, i * n + rank), i * rank);
  return { factor, rank, order };
}

/**
 * `out[a·ldOut + b] = Σ_{t ∈ [from(a, b), len)} x[a·len + t] · y[b·len + t]` for rows `a < xRows`, `b < yRows` (only
 * `b ≤ a` when `lower`), four `y` rows at a time so each `x` value is loaded once per four multiply-adds.
 * `from(a, b)` must be non-decreasing in `b` — the four rows start at the first one's offset, the others' skipped
 * values being zero.
 */
function rowDots(
  out: Float64Array,
  ldOut: number,
  x: Float64Array,
  xRows: number,
  y: Float64Array,
  yRows: number,
  len: number,
  lower: boolean,
  from: (a: number, b: number) => number,
): void {
  // Tiles of Y_TILE rows of y stay in cache while every row of x passes over them.
  const Y_TILE = 16;
  for (let b0 = 0; b0 < yRows; b0 += Y_TILE) {
    const b1 = Math.min(yRows, b0 + Y_TILE);
    for (let a = lower ? b0 : 0; a < xRows; a++) {
      const xa = a * len;
      const end = lower ? Math.min(b1, a + 1) : b1;
      let b = b0;
      for (; b + 3 < end; b += 4) {
        const y0 = b * len;
        const y1 = y0 + len;
        const y2 = y1 + len;
        const y3 = y2 + len;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let t = from(a, b); t < len; t++) {
          const v = x[xa + t];
          s0 += v * y[y0 + t];
          s1 += v * y[y1 + t];
          s2 += v * y[y2 + t];
          s3 += v * y[y3 + t];
        }
        const o = a * ldOut + b;
        out[o] = s0;
        out[o + 1] = s1;
        out[o + 2] = s2;
        out[o + 3] = s3;
      }
      for (; b < end; b++) {
        const yb = b * len;
        let s = 0;
        for (let t = from(a, b); t < len; t++) s += x[xa + t] * y[yb + t];
        out[a * ldOut + b] = s;
      }
    }
  }
}

/** The first `rank` columns of an `n × rank` row-major factor as rows (`rank × n`), rows of the factor reordered by `order`. */
function factorColumns(factor: Float64Array, n: number, rank: number, order: Int32Array | null): Float64Array {
  const out = new Float64Array(rank * n);
  for (let i = 0; i < n; i++) {
    const src = (order ? order[i] : i) * rank;
    for (let a = 0; a < rank; a++) out[a * n + i] = factor[src + a];
  }
  return out;
}

/**
 * `tr((Σ₁Σ₂)^½)` of two symmetric PSD `n × n` matrices, float64 — pytorch-fid's `tr_covmean` (the trace of the real
 * part of `scipy.linalg.sqrtm(sigma1 @ sigma2)`). It is `Σ √λ` over the eigenvalues of `Σ₁Σ₂`, which are those of
 * the symmetric PSD `L₁ᵀ Σ₂ L₁` for `Σ₁ = L₁L₁ᵀ` (pivoted Cholesky, {@link pivotedCholesky}); negative rounding noise
 * is clipped to 0. Real and finite for singular covariances, where scipy's `sqrtm` turns complex. When both
 * covariances have low rank (fewer vectors than dimensions) the product is formed as `(L₁ᵀL₂)(L₁ᵀL₂)ᵀ` instead,
 * whichever is cheaper. Cost: full-rank 2048-d about `1.4·10¹⁰` multiply-adds (about 16 s of one CPU core in
 * JavaScript; the former cyclic Jacobi method took about half an hour); 2048-d of rank 299 (300 vectors) about 0.5 s.
 */
export function traceSqrtProduct(covA: ArrayLike<number>, covB: ArrayLike<number>, n: number): number {
  checkSquare(covA, n);
  checkSquare(covB, n);
  let fa = pivotedCholesky(covA, n);
  let fb = pivotedCholesky(covB, n);
  let other = covB;
  if (fb.rank < fa.rank) {
    [fa, fb] = [fb, fa];
    other = covA;
  }
  const ra = fa.rank;
  const rb = fb.rank;
  if (ra === 0 || rb === 0) return 0;
  let m: Float64Array;
  const costProduct = n * ra * rb + (ra * ra * rb) / 2;
  const costSandwich = n * ra * (n - ra / 2) + (n * ra * ra) / 6;
  if (costProduct < costSandwich) {
    // C = L_aᵀ L_b (ra × rb), M = C Cᵀ (ra × ra).
    const la = factorColumns(fa.factor, n, ra, null);
    const lb = factorColumns(fb.factor, n, rb, null);
    const c = new Float64Array(ra * rb);
    rowDots(c, rb, la, ra, lb, rb, n, false, () => 0);
    m = new Float64Array(ra * ra);
    rowDots(m, ra, c, ra, c, ra, rb, true, () => 0);
  } else {
    // In pivot order L_a is lower trapezoidal: column a is zero above row a. Wᵀ = (Σ_b L_a)ᵀ, M = L_aᵀ W.
    const order = fa.order;
    const la = factorColumns(fa.factor, n, ra, order);
    const s = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      const oi = order[i] * n;
      for (let j = 0; j < n; j++) s[i * n + j] = other[oi + order[j]];
    }
    // wt[b·n + i] = Σ_t s[i, t]·la[b, t] for t ≥ b: rows of s against columns of L_a.
    const w = new Float64Array(n * ra);
    rowDots(w, ra, s, n, la, ra, n, false, (_i, b) => b);
    const wt = new Float64Array(ra * n);
    for (let i = 0; i < n; i++) for (let b = 0; b < ra; b++) wt[b * n + i] = w[i * ra + b];
    m = new Float64Array(ra * ra);
    rowDots(m, ra, la, ra, wt, ra, n, true, (a) => a);
  }
  let trace = 0;
  for (const v of symmetricEigenvalues(m, ra)) trace += Math.sqrt(Math.max(0, v));
  return trace;
}

/**
 * The Fréchet distance between two Gaussians, `‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2·tr((Σ₁Σ₂)^½)`, float64 — FID when
 * the features are Inception's pool3 (2048-d), sFID when they are ADM's spatial features (2023-d). This is
 * pytorch-fid's `calculate_frechet_distance` and ADM's `FIDStatistics.frechet_distance` (the same TTUR formula);
 * the trace term comes from {@link traceSqrtProduct}, which stays real and finite for singular covariances where
 * upstream's `scipy.linalg.sqrtm` needs its complex-part and `eps·I` fallbacks. ADM's own number differs only by
 * its float32 feature means (4e-7 of an FID of 1,000): see {@link FrechetOptions.float32MeanTerm}.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats, options: FrechetOptions = {}): number {
  if (a.dim !== b.dim) throw new Error(`feature dimensions differ: ${a.dim} vs ${b.dim}`);
  const n = a.dim;
  let meanTerm = 0;
  if (options.float32MeanTerm) {
    for (let i = 0; i < n; i++) meanTerm += Math.fround(Math.fround(a.mean[i]) - Math.fround(b.mean[i])) ** 2;
    meanTerm = Math.fround(meanTerm);
  } else {
    for (let i = 0; i < n; i++) meanTerm += (a.mean[i] - b.mean[i]) ** 2;
  }
  let traces = 0;
  for (let i = 0; i < n; i++) traces += a.cov[i * n + i] + b.cov[i * n + i];
  return meanTerm + traces - 2 * traceSqrtProduct(a.cov, b.cov, n);
}
