/**
 * Parity of the evaluation statistics with the golden fixtures in `../shared/fixtures/eval/` (made by pytorch-fid
 * and guided-diffusion's `evaluations/evaluator.py`): Fréchet distance (64-d, 64-d singular, 2048-d from features),
 * improved precision/recall (float32 and ADM's float16 distances), Inception Score (three split sizes).
 */
import { describe, expect, it } from 'vitest';
import { type RawTensor, toFloat32 } from '@svg/weights';
import { loadFixture, type Tolerance } from '../../../tools/testing/fixtures';
import { FeatureStatsAccumulator, frechetDistance, type GaussianStats, gaussianStats, traceSqrtProduct } from './frechet';
import { inceptionScore } from './inception-score';
import { precisionRecall } from './precision-recall';

/** Float64 values of a fixture tensor (F64 ones exactly, without the float32 rounding of `compareToFixture`). */
function values(raw: RawTensor): Float64Array {
  return raw.dtype === 'F64' ? (raw.data as Float64Array) : Float64Array.from(toFloat32(raw));
}

/** Asserts max_abs / rel_l2 against the fixture's output within its tolerance, and returns the measures. */
function expectOutput(fx: ReturnType<typeof loadFixture>, name: string, actual: ArrayLike<number>): { maxAbs: number; relL2: number; tol: Tolerance } {
  const want = values(fx.io.get(name)!);
  expect(actual.length, name).toBe(want.length);
  let maxAbs = 0;
  let d2 = 0;
  let r2 = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(actual[i] - want[i]);
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
    d2 += d * d;
    r2 += want[i] * want[i];
  }
  const relL2 = Math.sqrt(d2) / (Math.sqrt(r2) || 1);
  const tol = fx.tolerance(name);
  console.log(`${fx.json.case} ${name}: max_abs ${maxAbs.toExponential(2)} (limit ${tol.max_abs}), rel_l2 ${relL2.toExponential(2)} (limit ${tol.rel_l2})`);
  expect(maxAbs, `${name} max_abs`).toBeLessThanOrEqual(tol.max_abs);
  expect(relL2, `${name} rel_l2`).toBeLessThanOrEqual(tol.rel_l2);
  return { maxAbs, relL2, tol };
}

function statsOf(fx: ReturnType<typeof loadFixture>, i: 1 | 2): GaussianStats {
  const mean = values(fx.io.get(`mu_${i}`)!);
  return { dim: mean.length, count: fx.json.config.n[i - 1], mean, cov: values(fx.io.get(`sigma_${i}`)!) };
}

describe('Fréchet distance parity (pytorch-fid, ADM)', () => {
  for (const name of ['frechet_distance_d64', 'frechet_distance_d64_singular']) {
    it(`${name}: fid_pytorch_fid, fid_adm, tr_covmean from float64 (mu, sigma)`, () => {
      const fx = loadFixture(`eval/${name}`);
      const a = statsOf(fx, 1);
      const b = statsOf(fx, 2);
      const fid = frechetDistance(a, b);
      expectOutput(fx, 'fid_pytorch_fid', [fid]);
      expectOutput(fx, 'fid_adm', [fid]);
      expectOutput(fx, 'tr_covmean', [traceSqrtProduct(a.cov, b.cov, a.dim)]);
    });
  }

  it('frechet_distance_d2048: statistics of 300 × 2048 float32 features, FID both ways, tr_covmean', () => {
    const fx = loadFixture('eval/frechet_distance_d2048');
    const f1 = toFloat32(fx.io.get('features_1')!);
    const f2 = toFloat32(fx.io.get('features_2')!);
    const dim = 2048;
    let t = performance.now();
    // Streamed in uneven batches, as features arrive from a network.
    const acc = new FeatureStatsAccumulator(dim);
    acc.add(f1.subarray(0, 77 * dim));
    acc.add(f1.subarray(77 * dim));
    const s1 = acc.result();
    const s2 = gaussianStats(f2, dim);
    const adm1 = acc.result({ float32Mean: true });
    const adm2 = gaussianStats(f2, dim, { float32Mean: true });
    const statsMs = performance.now() - t;
    expectOutput(fx, 'mu_1', s1.mean);
    expectOutput(fx, 'mu_2', s2.mean);
    expectOutput(fx, 'sigma_1_diag', Float64Array.from({ length: dim }, (_, i) => s1.cov[i * dim + i]));
    expectOutput(fx, 'sigma_2_diag', Float64Array.from({ length: dim }, (_, i) => s2.cov[i * dim + i]));
    t = performance.now();
    const trace = traceSqrtProduct(s1.cov, s2.cov, dim);
    const fidMs = performance.now() - t;
    console.log(`d2048: statistics of 2 × 300 vectors ${statsMs.toFixed(0)} ms, tr((Σ₁Σ₂)^½) ${fidMs.toFixed(0)} ms`);
    expectOutput(fx, 'tr_covmean', [trace]);
    const fid = frechetDistance(s1, s2);
    expectOutput(fx, 'fid_pytorch_fid', [fid]);
    // ADM: the same covariances, the float32 means np.mean gives float32 features, a float32 ‖μ₁ − μ₂‖².
    const adm = frechetDistance(adm1, adm2, { float32MeanTerm: true });
    expectOutput(fx, 'fid_adm', [adm]);
    // The two differ only through the means, so their difference is reproduced far below the tolerance.
    const want = values(fx.io.get('fid_pytorch_fid')!)[0] - values(fx.io.get('fid_adm')!)[0];
    console.log(`d2048: fid_pytorch_fid − fid_adm ours ${(fid - adm).toExponential(6)}, upstream ${want.toExponential(6)}`);
    expect(Math.abs(fid - adm - want)).toBeLessThan(1e-11);
  });
});

describe('improved precision/recall parity (ADM compute_prec_recall, k = 3)', () => {
  const fx = loadFixture('eval/precision_recall_d64');
  const ref = toFloat32(fx.io.get('features_ref')!);
  const sample = toFloat32(fx.io.get('features_sample')!);

  it('float32 distances: precision, recall, radii (default and small batches)', async () => {
    const t = performance.now();
    const pr = await precisionRecall(ref, sample, 64);
    console.log(`precision/recall of 600 + 700 64-d points (float32): ${(performance.now() - t).toFixed(0)} ms`);
    expectOutput(fx, 'precision', [pr.precision]);
    expectOutput(fx, 'recall', [pr.recall]);
    expectOutput(fx, 'radii_ref', pr.radiiRef);
    expectOutput(fx, 'radii_sample', pr.radiiSample);
    const { row_batch_size, col_batch_size } = fx.json.extras.small_batches;
    const small = await precisionRecall(ref, sample, 64, { rowBatchSize: row_batch_size, colBatchSize: col_batch_size });
    expect([small.precision, small.recall]).toEqual([pr.precision, pr.recall]);
    expect(small.radiiRef).toEqual(pr.radiiRef);
  });

  it("ADM's float16 distances: bit-exact radii, precision and recall (an exact tie included)", async () => {
    const t = performance.now();
    const pr = await precisionRecall(ref, sample, 64, { distances: 'adm-float16' });
    console.log(`precision/recall of 600 + 700 64-d points (float16): ${(performance.now() - t).toFixed(0)} ms`);
    expectOutput(fx, 'precision_f16', [pr.precision]);
    expectOutput(fx, 'recall_f16', [pr.recall]);
    expect(pr.radiiRef).toEqual(toFloat32(fx.io.get('radii_ref_f16')!));
    expect(pr.radiiSample).toEqual(toFloat32(fx.io.get('radii_sample_f16')!));
    const { row_batch_size, col_batch_size } = fx.json.extras.small_batches;
    const small = await precisionRecall(ref, sample, 64, { distances: 'adm-float16', rowBatchSize: row_batch_size, colBatchSize: col_batch_size });
    expect([small.precision, small.recall]).toEqual([pr.precision, pr.recall]);
  });
});

describe('Inception Score parity (ADM compute_inception_score)', () => {
  it('600 × 1008 logits, split sizes 5000 (one split), 250 and 128 (partial last split)', () => {
    const fx = loadFixture('eval/inception_score');
    const logits = toFloat32(fx.io.get('logits')!);
    for (const splitSize of fx.json.config.split_sizes as number[]) {
      const is = inceptionScore(logits, 1008, { splitSize });
      expect(is.splitScores.length).toBe(fx.json.extras.n_splits[splitSize]);
      expectOutput(fx, `inception_score_split${splitSize}`, [is.score]);
      expectOutput(fx, `split_scores_split${splitSize}`, is.splitScores);
    }
    expect(inceptionScore(logits, 1008).score).toBe(inceptionScore(logits, 1008, { splitSize: 5000 }).score);
  });
});
