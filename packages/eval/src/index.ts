/**
 * @svg/eval: measuring generated images — feature extractors and the statistics computed on their features.
 *
 * - {@link ConvClassifier}: the small CNN that judges Fashion-MNIST samples (class accuracy, and its penultimate
 *   features for Fréchet distances).
 * - {@link frechetDistance} of two {@link GaussianStats} (float64; stays finite for singular covariances), with
 *   {@link FeatureStatsAccumulator} to stream features into a mean and covariance.
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
export { FeatureStatsAccumulator, type GaussianStats, frechetDistance, gaussianStats, sqrtmPsd, symmetricEigen } from './frechet';
