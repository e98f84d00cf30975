/**
 * Inception Score as ADM's evaluation suite computes it (guided-diffusion `evaluations/evaluator.py`:
 * `Evaluator.compute_inception_score`, after improved-gan's `inception_score/model.py`). Pure TypeScript, float64.
 */

/** Options of {@link inceptionScore}. */
export interface InceptionScoreOptions {
  /** Rows per split, default 5000 (ADM's `split_size`); the last split may be shorter and counts fully in the mean. */
  splitSize?: number;
}

/** Result of {@link inceptionScore}. */
export interface InceptionScore {
  /** The mean of the split scores: ADM's reported Inception Score. */
  score: number;
  /** `exp(mean_x KL(p(y|x) ‖ p(y)))` of each split, `p(y)` being the split's mean prediction. */
  splitScores: Float64Array;
}

/**
 * Row-wise softmax of `n × classes` row-major logits (max-shifted), in float64.
 */
export function softmaxRows(logits: ArrayLike<number>, classes: number): Float64Array {
  const n = logits.length / classes;
  if (!Number.isInteger(classes) || classes < 1 || !Number.isInteger(n)) throw new Error(`expected rows of ${classes} logits, got ${logits.length} values`);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < n; i++) {
    const o = i * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]);
    if (!Number.isFinite(max)) throw new Error(`row ${i} of the logits has no finite maximum (${max})`);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[o + c] = Math.exp(logits[o + c] - max);
    for (let c = 0; c < classes; c++) out[o + c] /= sum;
  }
  return out;
}

/**
 * The Inception Score of `n × classes` row-major logits — in ADM the input of its softmax, `pool3 · W` with the
 * Inception classifier's weight `W` and **no bias** (1008 classes). Per split of `splitSize` rows: `p = softmax(logits)`,
 * `score = exp(mean_rows Σ_c p (log p − log mean_rows p))`; the result is the mean of the split scores. Computed in
 * float64 (ADM uses float32 numpy; the difference is ~1e-6 of a score of 10). A probability that underflows to 0
 * contributes 0 (its limit), where ADM's float32 `np.log(0)` would make the score NaN.
 */
export function inceptionScore(logits: ArrayLike<number>, classes: number, options: InceptionScoreOptions = {}): InceptionScore {
  const splitSize = options.splitSize ?? 5000;
  if (!Number.isInteger(splitSize) || splitSize < 1) throw new Error(`split size must be a positive integer, got ${splitSize}`);
  const p = softmaxRows(logits, classes);
  const n = p.length / classes;
  if (n < 1) throw new Error('inception score needs at least one row of logits');
  const splits = Math.ceil(n / splitSize);
  const splitScores = new Float64Array(splits);
  const marginal = new Float64Array(classes);
  for (let s = 0; s < splits; s++) {
    const r0 = s * splitSize;
    const r1 = Math.min(n, r0 + splitSize);
    marginal.fill(0);
    for (let i = r0; i < r1; i++) for (let c = 0; c < classes; c++) marginal[c] += p[i * classes + c];
    for (let c = 0; c < classes; c++) marginal[c] = Math.log(marginal[c] / (r1 - r0));
    let kl = 0;
    for (let i = r0; i < r1; i++) {
      let row = 0;
      for (let c = 0; c < classes; c++) {
        const q = p[i * classes + c];
        if (q > 0) row += q * (Math.log(q) - marginal[c]);
      }
      kl += row;
    }
    splitScores[s] = Math.exp(kl / (r1 - r0));
  }
  return { score: splitScores.reduce((a, b) => a + b, 0) / splits, splitScores };
}
