/**
 * @svg/eval: measuring generated images — feature extractors and the statistics computed on their features.
 *
 * - {@link ConvClassifier}: the small CNN that judges Fashion-MNIST samples (class accuracy, and its penultimate
 *   features for Fréchet distances).
 * - {@link frechetDistance} of two {@link GaussianStats} (float64; stays finite for singular covariances), with
 *   {@link FeatureStatsAccumulator} to stream features into a mean and covariance.
 * - The ADM evaluation suite's statistics: {@link precisionRecall} (improved precision/recall, k = 3, float32 or
 *   ADM's float16 distances) and {@link inceptionScore} (of logits, per split).
 *
 * @example
 * import { FeatureStatsAccumulator, frechetDistance, loadConvClassifier } from '@svg/eval';
 * const net = loadConvClassifier(stateDict);
 * const labels = await net.predict(images);                      // images: [B, 32, 32, 3] in [-1, 1]
 * const acc = new FeatureStatsAccumulator(128);
 * acc.add(await net.features(images).data());
 * const fd = frechetDistance(acc.result(), referenceStats);
 */
export { ConvClassifier, type ConvClassifierConfig, loadConvClassifier } from './conv-classifier';
export {
  FeatureStatsAccumulator,
  type FrechetOptions,
  type GaussianStats,
  type StatsOptions,
  frechetDistance,
  gaussianStats,
  pivotedCholesky,
  sqrtmPsd,
  symmetricEigen,
  symmetricEigenvalues,
  traceSqrtProduct,
} from './frechet';
export {
  type DistancePrecision,
  type GramFunction,
  type PrecisionRecall,
  type PrecisionRecallOptions,
  jsGram,
  manifoldRadii,
  precisionRecall,
  roundToHalf,
} from './precision-recall';
export { type InceptionScore, type InceptionScoreOptions, inceptionScore, softmaxRows } from './inception-score';
export {
  FID_INCEPTION_DIMS,
  FID_INCEPTION_SIZE,
  FidInceptionV3,
  type FidInceptionInputOptions,
  type FidInceptionOutputs,
  type FidInceptionRange,
  SFID_DIMS,
  fidInceptionInput,
  loadFidInception,
} from './inception';
export {
  type Activations,
  type BatchFeatures,
  type EvaluateOptions,
  type EvaluationResult,
  type FeatureExtractor,
  type ImageBatch,
  type ReferenceStats,
  classifierExtractor,
  computeActivations,
  evaluateActivations,
  inceptionExtractor,
  tfjsGram,
} from './evaluate';
