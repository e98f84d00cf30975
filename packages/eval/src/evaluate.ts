/**
 * The ADM evaluation table (guided-diffusion `evaluations/evaluator.py`): a feature extractor turns image batches
 * into activations, and {@link evaluateActivations} turns a reference batch's and a sample batch's activations into
 * FID, sFID, Inception Score, precision and recall. Any {@link FeatureExtractor} works: the FID Inception v3 for
 * ImageNet numbers, the Fashion-MNIST judge ({@link classifierExtractor}) for the demo model.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConvClassifier } from './conv-classifier';
import { FeatureStatsAccumulator, type GaussianStats, frechetDistance } from './frechet';
import { type FidInceptionV3, SFID_DIMS } from './inception';
import { inceptionScore } from './inception-score';
import { type DistancePrecision, type GramFunction, precisionRecall } from './precision-recall';

/** Images as ADM's npz files hold them: uint8 RGB, row-major `[count, height, width, 3]`. */
export interface ImageBatch {
  pixels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

/** What a {@link FeatureExtractor} gives for a batch (row-major float32). */
export interface BatchFeatures {
  /** `[count, poolDims]`: the features of FID and precision/recall. */
  pool: Float32Array;
  /** `[count, spatialDims]`: the features of sFID, if the extractor has them. */
  spatial?: Float32Array;
  /** `[count, classes]`: the logits the Inception Score takes the softmax of, if the extractor has them. */
  logits?: Float32Array;
}

/** A network that maps uint8 image batches to {@link BatchFeatures}. */
export interface FeatureExtractor {
  /** Names the extractor in reports and in feature caches (include what would change its features). */
  readonly id: string;
  readonly poolDims: number;
  /** sFID feature dimension, 0 when there are none. */
  readonly spatialDims: number;
  /** Classes of the logits, 0 when there are none. */
  readonly logitClasses: number;
  extract(batch: ImageBatch): Promise<BatchFeatures>;
}

async function readAndDispose(tensors: Record<string, tf.Tensor>): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  try {
    for (const [k, t] of Object.entries(tensors)) out[k] = (await t.data()) as Float32Array;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return out;
}

/**
 * The FID Inception v3 as ADM uses it: pool3 (2048) for FID and precision/recall, the 7 × 17 × 17 `mixed_6/conv`
 * features for sFID, and `pool3 · W` without bias for the Inception Score. Images of any size are resized to 299².
 */
export function inceptionExtractor(net: FidInceptionV3, id = 'fid-inception-v3'): FeatureExtractor {
  return {
    id,
    poolDims: 2048,
    spatialDims: SFID_DIMS,
    logitClasses: net.numClasses,
    async extract({ pixels, count, height, width }) {
      const x = tf.tensor4d(pixels, [count, height, width, 3], 'int32');
      const outs = tf.tidy(() => {
        const o = net.forward(x, { range: 'uint8' });
        return { pool: tf.keep(o.pool3), spatial: tf.keep(o.spatial), logits: tf.keep(o.admLogits) };
      });
      x.dispose();
      const { pool, spatial, logits } = await readAndDispose(outs);
      return { pool, spatial, logits };
    },
  };
}

/**
 * A {@link ConvClassifier} as the feature extractor (the Fashion-MNIST judge): its penultimate features stand in
 * for pool3 and its logits for the Inception Score; there are no sFID features. Images must have the classifier's
 * input size (32 × 32 for the shipped judge).
 */
export function classifierExtractor(net: ConvClassifier, id = 'conv-classifier'): FeatureExtractor {
  return {
    id,
    poolDims: net.config.hidden,
    spatialDims: 0,
    logitClasses: net.config.numClasses,
    async extract({ pixels, count, height, width }) {
      const outs = tf.tidy(() => {
        const x = tf.sub(tf.div(tf.tensor4d(pixels, [count, height, width, 3], 'float32'), 127.5), 1) as tf.Tensor4D;
        const pool = net.features(x);
        return { pool, logits: net.out.forward(pool) as tf.Tensor };
      });
      const { pool, logits } = await readAndDispose(outs);
      return { pool, logits };
    },
  };
}

/** A batch's activations: every pool feature (precision/recall need them all), sFID statistics and logits. */
export interface Activations {
  count: number;
  poolDims: number;
  /** `[count, poolDims]` row-major. */
  pool: Float32Array;
  /** Mean and covariance of the sFID features (streamed; the features themselves are not kept). */
  spatialStats: GaussianStats | null;
  logitClasses: number;
  /** `[count, logitClasses]`, empty when the extractor has no logits. */
  logits: Float32Array;
}

/**
 * Runs `extractor` over image batches and collects {@link Activations}. Memory: the pool features and logits of
 * every image (50,000 × (2048 + 1008) floats = 0.6 GB for ADM's batches) plus the sFID covariance sums.
 */
export async function computeActivations(extractor: FeatureExtractor, batches: AsyncIterable<ImageBatch>, total: number, onProgress?: (done: number) => void): Promise<Activations> {
  const pool = new Float32Array(total * extractor.poolDims);
  const logits = new Float32Array(total * extractor.logitClasses);
  const spatial = extractor.spatialDims > 0 ? new FeatureStatsAccumulator(extractor.spatialDims) : null;
  let done = 0;
  for await (const batch of batches) {
    if (done + batch.count > total) throw new Error(`more images than the ${total} announced`);
    const f = await extractor.extract(batch);
    pool.set(f.pool, done * extractor.poolDims);
    if (extractor.logitClasses > 0 && f.logits) logits.set(f.logits, done * extractor.logitClasses);
    if (spatial && f.spatial) spatial.add(f.spatial, batch.count);
    done += batch.count;
    onProgress?.(done);
  }
  if (done !== total) throw new Error(`expected ${total} images, got ${done}`);
  return { count: total, poolDims: extractor.poolDims, pool, spatialStats: spatial?.result() ?? null, logitClasses: extractor.logitClasses, logits };
}

/** Precomputed statistics of a reference set (ADM's reference npz carries `mu`, `sigma`, `mu_s`, `sigma_s`). */
export interface ReferenceStats {
  pool?: GaussianStats;
  spatial?: GaussianStats;
}

/** Options of {@link evaluateActivations}. */
export interface EvaluateOptions {
  /** Statistics to use instead of the reference activations' own (as ADM's `read_statistics` does). */
  referenceStats?: ReferenceStats;
  /** Rows per Inception Score split, default 5000 (ADM). */
  splitSize?: number;
  /** Distance arithmetic of precision/recall, default `'adm-float16'` (the numbers ADM reports). */
  distances?: DistancePrecision;
  /** The matmul used for precision/recall's distance blocks (default: tfjs `matMul` on the active backend). */
  gram?: GramFunction;
}

/** The ADM evaluation table. `null` where the extractor has no such output. */
export interface EvaluationResult {
  fid: number;
  sfid: number | null;
  inceptionScore: number | null;
  precision: number;
  recall: number;
  referenceCount: number;
  sampleCount: number;
}

/** Gram blocks `A·Bᵀ` with tfjs (fast with @svg/blas on wasm, or on a GPU backend). */
export const tfjsGram: GramFunction = async (a, aRows, b, bRows, dim) => {
  const c = tf.tidy(() => tf.matMul(tf.tensor2d(a, [aRows, dim]), tf.tensor2d(b, [bRows, dim]), false, true));
  const out = await c.data();
  c.dispose();
  return out;
};

/**
 * FID, sFID, Inception Score (of the samples), precision and recall (k = 3) of a sample batch against a reference
 * batch, as guided-diffusion's evaluator computes them. FID and sFID use `options.referenceStats` when given.
 */
export async function evaluateActivations(reference: Activations, samples: Activations, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  if (reference.poolDims !== samples.poolDims) {
    throw new Error(`feature dimensions differ: reference ${reference.poolDims}, samples ${samples.poolDims}`);
  }
  const refPool = options.referenceStats?.pool ?? poolStats(reference);
  if (refPool.dim !== samples.poolDims) throw new Error(`reference statistics are ${refPool.dim}-dimensional, the features ${samples.poolDims}-dimensional`);
  const fid = frechetDistance(poolStats(samples), refPool);
  const refSpatial = options.referenceStats?.spatial ?? reference.spatialStats;
  let sfid: number | null = null;
  if (samples.spatialStats && refSpatial) {
    if (refSpatial.dim !== samples.spatialStats.dim) throw new Error(`reference sFID statistics are ${refSpatial.dim}-dimensional, the features ${samples.spatialStats.dim}-dimensional`);
    sfid = frechetDistance(samples.spatialStats, refSpatial);
  }
  const is = samples.logitClasses > 0 ? inceptionScore(samples.logits, samples.logitClasses, { splitSize: options.splitSize }).score : null;
  const pr = await precisionRecall(reference.pool, samples.pool, samples.poolDims, { distances: options.distances ?? 'adm-float16', gram: options.gram ?? tfjsGram });
  return { fid, sfid, inceptionScore: is, precision: pr.precision, recall: pr.recall, referenceCount: reference.count, sampleCount: samples.count };
}

function poolStats(a: Activations): GaussianStats {
  const acc = new FeatureStatsAccumulator(a.poolDims);
  acc.add(a.pool, a.count);
  return acc.result();
}
