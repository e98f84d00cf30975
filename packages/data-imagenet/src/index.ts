/**
 * @svg/data-imagenet — the ImageNet-style data pipeline of SVG, browser-safe part: Pillow-exact ADM centre crop
 * (BOX halving + BICUBIC, bit-identical to Pillow 9.4), flips and the two normalisations, `DistributedSampler`
 * sharding with seeded shuffling, the 1000 ImageNet classes with name lookup, latent statistics, browser image
 * decoding and PNG writing. File-system work (folder scanning, sharp decoding, the worker-thread loader, the
 * latent cache) is in `@svg/data-imagenet/node`.
 */
export { type ClassInfo, ClassLookupError, classesFromNames, editDistance, findClass, imagenetClasses, suggestClasses } from './classes';
export { centerCropArr, roundHalfEven } from './crop';
export { IMAGE_EXTENSIONS, type ImageDataset, type Sample, compareCodePoints, hasImageExtension } from './dataset';
export { type RgbImage, flipHorizontal, rgbImage, toRgb } from './image';
export { MAX_IMAGE_PIXELS, checkImagePixels, decodeBitmap } from './bitmap';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  type Layout,
  type Normalization,
  normalizeImage,
  signedToImagenet,
  writeNormalized,
} from './normalize';
export { type Region, type ResampleFilter, cropRgb, resizePillow } from './resample';
export { Rng, hashInts, permutation } from './random';
export { type ShardOptions, flipDecision, shardIndices, shardLength } from './sampler';
export { type ChannelStats, ChannelStatsAccumulator, statsTensors } from './stats';
export { type BrowserImageSource, decodeImageInBrowser, loadCenterCropInBrowser } from './browser';
export { type PngImage, encodePng, readPngText } from './png';
