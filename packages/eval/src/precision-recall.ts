/**
 * Improved precision and recall (Kynkäänniemi et al. 2019) exactly as ADM's evaluation suite computes them
 * (guided-diffusion `evaluations/evaluator.py`: `Evaluator.compute_prec_recall` → `ManifoldEstimator` with
 * `nhood_sizes = (3,)`, `DistanceBlock`). Pure TypeScript; the one expensive step, the Gram matrix `U·Vᵀ` of feature
 * blocks, is pluggable ({@link GramFunction}) so a BLAS or tfjs matmul can do it.
 */
import { halfToNumber, numberToHalf } from '@svg/weights';

/**
 * Computes the Gram block `A·Bᵀ`: `a` is `aRows × dim`, `b` is `bRows × dim` (row-major), the result `aRows × bRows`
 * row-major. May return a promise (e.g. a tfjs `matMul(...).data()`). Values are rounded to float32 afterwards, as
 * ADM's float32 (or float32-accumulating float16) matmul returns them.
 */
export type GramFunction = (a: Float32Array, aRows: number, b: Float32Array, bRows: number, dim: number) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** How pairwise squared distances are computed. */
export type DistancePrecision =
  /** float32 features and arithmetic: what a float32 port computes (ADM's fallback branch). */
  | 'float32'
  /**
   * What ADM reports: its TensorFlow `DistanceBlock` computes the distances of the features cast to float16 (squares
   * rounded to float16 per element, sums and matmul accumulated in float32 and rounded to float16, then `2x`, `−`,
   * `+` and `max(·, 0)` in float16) and uses them whenever all of a row-batch × column-batch block are finite, else
   * that block's float32 distances.
   */
  | 'adm-float16';

/** Options of {@link precisionRecall} and {@link manifoldRadii}. */
export interface PrecisionRecallOptions {
  /** The neighbourhood size: a radius is the squared distance to the `k`-th nearest other point. Default 3 (ADM). */
  k?: number;
  /** Distance arithmetic, default `'float32'`. `'adm-float16'` reproduces ADM's numbers bit for bit. */
  distances?: DistancePrecision;
  /**
   * Rows and columns of one distance block, default 10,000 each (ADM's `row_batch_size`, `col_batch_size`). They
   * only matter for `'adm-float16'`, where a block that overflows float16 falls back to float32 as a whole; memory
   * is bounded by tiling blocks internally (about 4M distances at a time), not by these sizes.
   */
  rowBatchSize?: number;
  /** See {@link PrecisionRecallOptions.rowBatchSize}. */
  colBatchSize?: number;
  /** The Gram-block kernel, default {@link jsGram} (exact float64 dot products, about 1 GMAC/s). */
  gram?: GramFunction;
}

/** Result of {@link precisionRecall}. */
export interface PrecisionRecall {
  /** Share of samples within the radius (inclusive) of at least one reference point. */
  precision: number;
  /** Share of reference points within the radius (inclusive) of at least one sample. */
  recall: number;
  /** Squared distance of each reference point to its `k`-th nearest reference neighbour (float32 values). */
  radiiRef: Float32Array;
  /** The same for the samples among themselves. */
  radiiSample: Float32Array;
}

/**
 * `A·Bᵀ` in plain JavaScript with float64 accumulation of the float32 inputs (so float16-valued inputs give exact
 * dot products): the default {@link GramFunction}. About `aRows·bRows·dim` multiply-adds at roughly 1 GMAC/s:
 * fine for thousands of points; for ADM's 50,000 × 2048-d batches (3 × 50k² × 2048 ≈ 1.5e13 multiply-adds, hours
 * here) plug in a BLAS/tfjs matmul.
 */
export function jsGram(a: Float32Array, aRows: number, b: Float32Array, bRows: number, dim: number): Float64Array {
  const out = new Float64Array(aRows * bRows);
  const TILE = 64;
  for (let j0 = 0; j0 < bRows; j0 += TILE) {
    const j1 = Math.min(bRows, j0 + TILE);
    for (let i = 0; i < aRows; i++) {
      const ai = i * dim;
      for (let j = j0; j < j1; j++) {
        const bj = j * dim;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let t = 0;
        for (; t + 3 < dim; t += 4) {
          s0 += a[ai + t] * b[bj + t];
          s1 += a[ai + t + 1] * b[bj + t + 1];
          s2 += a[ai + t + 2] * b[bj + t + 2];
          s3 += a[ai + t + 3] * b[bj + t + 3];
        }
        for (; t < dim; t++) s0 += a[ai + t] * b[bj + t];
        out[i * bRows + j] = s0 + s1 + (s2 + s3);
      }
    }
  }
  return out;
}

let halfValues: Float64Array | undefined;

/**
 * Rounds `x` to the nearest float16 value (ties to even; overflow to ±∞), through float32 first as numpy's and
 * Eigen's float16 arithmetic does (`half(float(a) op float(b))`): `halfToNumber(numberToHalf(x))` of
 * `@svg/weights`, with the 65,536 float16 values tabulated once.
 */
export function roundToHalf(x: number): number {
  if (!halfValues) {
    halfValues = new Float64Array(65536);
    for (let i = 0; i < 65536; i++) halfValues[i] = halfToNumber(i);
  }
  return halfValues[numberToHalf(x)];
}

interface Resolved {
  k: number;
  mode: DistancePrecision;
  rowBatch: number;
  colBatch: number;
  gram: GramFunction;
}

function resolve(options: PrecisionRecallOptions): Resolved {
  const k = options.k ?? 3;
  const rowBatch = options.rowBatchSize ?? 10000;
  const colBatch = options.colBatchSize ?? 10000;
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
  if (!Number.isInteger(rowBatch) || rowBatch < 1 || !Number.isInteger(colBatch) || colBatch < 1) throw new Error('batch sizes must be positive integers');
  const mode = options.distances ?? 'float32';
  if (mode !== 'float32' && mode !== 'adm-float16') throw new Error(`unknown distance precision '${mode}'`);
  return { k, mode, rowBatch, colBatch, gram: options.gram ?? jsGram };
}

/** A feature set in the forms the distance blocks need. */
class FeatureSet {
  readonly n: number;
  private half?: { values: Float32Array; norms: Float64Array };
  private single?: { norms: Float64Array };

  constructor(readonly values: Float32Array, readonly dim: number, name: string) {
    this.n = values.length / dim;
    if (!Number.isInteger(this.n) || this.n < 1) throw new Error(`${name}: expected ${dim}-dimensional features, got ${values.length} values`);
  }

  /** Float32 features and `reduce_sum(square(u))` rounded to float32. */
  float32(): { values: Float32Array; norms: Float64Array } {
    if (!this.single) {
      const { n, dim, values } = this;
      const norms = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let t = 0; t < dim; t++) s += Math.fround(values[i * dim + t] * values[i * dim + t]);
        norms[i] = Math.fround(s);
      }
      this.single = { norms };
    }
    return { values: this.values, norms: this.single.norms };
  }

  /** Features cast to float16 and their squared norms: squares rounded to float16, float32 sum rounded to float16. */
  float16(): { values: Float32Array; norms: Float64Array } {
    if (!this.half) {
      const { n, dim } = this;
      const values = new Float32Array(this.values.length);
      for (let i = 0; i < values.length; i++) values[i] = roundToHalf(this.values[i]);
      const norms = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let t = 0; t < dim; t++) s += roundToHalf(values[i * dim + t] * values[i * dim + t]);
        norms[i] = roundToHalf(Math.fround(s));
      }
      this.half = { values, norms };
    }
    return this.half;
  }
}

/** Most distances held at once: a block is processed in row tiles of about this many entries. */
const TILE_ENTRIES = 1 << 22;

/**
 * Computes the distance block rows [r0, r1) of `u` × columns [c0, c1) of `v` tile by tile, calling `visit(i, d)` with
 * each row's `c1 − c0` distances (`d` is reused). Returns false if the float16 distances were not all finite (the
 * caller then redoes the block in float32; visits already made must be discarded).
 */
async function distanceBlock(
  u: FeatureSet,
  v: FeatureSet,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  half: boolean,
  gram: GramFunction,
  visit: (row: number, d: Float64Array) => void,
): Promise<boolean> {
  const dim = u.dim;
  const U = half ? u.float16() : u.float32();
  const V = half ? v.float16() : v.float32();
  const cols = c1 - c0;
  const tileRows = Math.max(1, Math.floor(TILE_ENTRIES / cols));
  const vBlock = V.values.subarray(c0 * dim, c1 * dim);
  const row = new Float64Array(cols);
  let finite = true;
  for (let t0 = r0; t0 < r1; t0 += tileRows) {
    const t1 = Math.min(r1, t0 + tileRows);
    const g = await gram(U.values.subarray(t0 * dim, t1 * dim), t1 - t0, vBlock, cols, dim);
    if (g.length !== (t1 - t0) * cols) throw new Error(`gram returned ${g.length} values, expected ${(t1 - t0) * cols}`);
    for (let i = t0; i < t1; i++) {
      const nu = U.norms[i];
      const base = (i - t0) * cols;
      if (half) {
        for (let j = 0; j < cols; j++) {
          const m = roundToHalf(Math.fround(g[base + j]));
          const x = roundToHalf(roundToHalf(nu - roundToHalf(2 * m)) + V.norms[c0 + j]);
          const d = x > 0 ? x : x === x ? 0 : x;
          if (!Number.isFinite(d)) finite = false;
          row[j] = d;
        }
      } else {
        for (let j = 0; j < cols; j++) {
          const x = Math.fround(Math.fround(nu - 2 * Math.fround(g[base + j])) + V.norms[c0 + j]);
          row[j] = x > 0 ? x : x === x ? 0 : x;
        }
      }
      if (!finite) return false;
      visit(i, row);
    }
  }
  return true;
}

/**
 * ADM's `ManifoldEstimator.manifold_radii`: for each of the `n` row-major `dim`-vectors, the squared distance to its
 * `k`-th nearest neighbour in the same set — the `k`-th smallest of its distances to all points, itself included at
 * index 0 (`np.partition(distances, k)[k]`), as float32 values.
 */
export async function manifoldRadii(features: Float32Array, dim: number, options: PrecisionRecallOptions = {}): Promise<Float32Array> {
  return radiiOf(new FeatureSet(features, dim, 'features'), resolve(options));
}

async function radiiOf(set: FeatureSet, o: Resolved): Promise<Float32Array> {
  const { n } = set;
  const keep = o.k + 1;
  if (n < keep) throw new Error(`radii with k = ${o.k} need at least ${keep} points, got ${n}`);
  // best[i*keep ..]: the `keep` smallest distances of row i so far, ascending.
  const best = new Float64Array(n * keep).fill(Infinity);
  const blockBest = new Float64Array(Math.min(o.rowBatch, n) * keep);
  for (let r0 = 0; r0 < n; r0 += o.rowBatch) {
    const r1 = Math.min(n, r0 + o.rowBatch);
    for (let c0 = 0; c0 < n; c0 += o.colBatch) {
      const c1 = Math.min(n, c0 + o.colBatch);
      const run = (half: boolean) => {
        blockBest.fill(Infinity);
        return distanceBlock(set, set, r0, r1, c0, c1, half, o.gram, (i, d) => {
          const off = (i - r0) * keep;
          for (let j = 0; j < d.length; j++) insertSmallest(blockBest, off, keep, d[j]);
        });
      };
      if (!(o.mode === 'adm-float16' && (await run(true)))) await run(false);
      for (let i = r0; i < r1; i++) for (let q = 0; q < keep; q++) insertSmallest(best, i * keep, keep, blockBest[(i - r0) * keep + q]);
    }
  }
  return Float32Array.from({ length: n }, (_, i) => best[i * keep + o.k]);
}

/** Inserts `x` into the ascending list `list[off .. off + len)` of the smallest values seen, dropping the largest. */
function insertSmallest(list: Float64Array, off: number, len: number, x: number): void {
  let p = off + len - 1;
  if (!(x < list[p])) return;
  while (p > off && list[p - 1] > x) {
    list[p] = list[p - 1];
    p--;
  }
  list[p] = x;
}

/**
 * Improved precision and recall of `sample` against `ref` (row-major float32 `dim`-vectors, e.g. Inception pool3
 * features), as ADM's `Evaluator.compute_prec_recall`: radii by {@link manifoldRadii} within each set, then
 * precision = share of samples whose squared distance to some reference point is ≤ that point's radius, recall =
 * share of reference points within the radius of some sample (`ManifoldEstimator.evaluate_pr`). Distances are
 * `max(|u|² − 2u·v + |v|², 0)` with `u` a reference and `v` a sample point. Cost: `(nRef² + nSample² + nRef·nSample)
 * · dim` multiply-adds in the {@link GramFunction}; memory `O((nRef + nSample)·dim)` plus about 4M distances.
 */
export async function precisionRecall(ref: Float32Array, sample: Float32Array, dim: number, options: PrecisionRecallOptions = {}): Promise<PrecisionRecall> {
  const o = resolve(options);
  const r = new FeatureSet(ref, dim, 'ref');
  const s = new FeatureSet(sample, dim, 'sample');
  const radiiRef = await radiiOf(r, o);
  const radiiSample = await radiiOf(s, o);
  const refIn = new Uint8Array(r.n);
  const sampleIn = new Uint8Array(s.n);
  const blockRefIn = new Uint8Array(r.n);
  const blockSampleIn = new Uint8Array(s.n);
  for (let r0 = 0; r0 < r.n; r0 += o.rowBatch) {
    const r1 = Math.min(r.n, r0 + o.rowBatch);
    for (let c0 = 0; c0 < s.n; c0 += o.colBatch) {
      const c1 = Math.min(s.n, c0 + o.colBatch);
      const run = (half: boolean) => {
        blockRefIn.fill(0, r0, r1);
        blockSampleIn.fill(0, c0, c1);
        return distanceBlock(r, s, r0, r1, c0, c1, half, o.gram, (i, d) => {
          const ri = radiiRef[i];
          for (let j = 0; j < d.length; j++) {
            if (d[j] <= radiiSample[c0 + j]) blockRefIn[i] = 1;
            if (d[j] <= ri) blockSampleIn[c0 + j] = 1;
          }
        });
      };
      if (!(o.mode === 'adm-float16' && (await run(true)))) await run(false);
      for (let i = r0; i < r1; i++) refIn[i] |= blockRefIn[i];
      for (let j = c0; j < c1; j++) sampleIn[j] |= blockSampleIn[j];
    }
  }
  const share = (flags: Uint8Array) => flags.reduce((a, b) => a + b, 0) / flags.length;
  return { precision: share(sampleIn), recall: share(refIn), radiiRef, radiiSample };
}
