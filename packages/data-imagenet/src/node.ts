/**
 * @svg/data-imagenet/node — the Node.js part: `ImageFolder` scanning and labelled validation folders, sharp
 * decoding identical to Pillow's, the background-decoding {@link ImageLoader}, and the latent cache
 * ({@link writeLatentCache}, {@link LatentCache}). The browser-safe API is in `@svg/data-imagenet`.
 */
export { decodeImage, decodeImageFile, loadCenterCrop } from './decode-node';
export {
  type LabelledFolderOptions,
  type ScanOptions,
  listImageFiles,
  loadLabelledFolder,
  openImageDataset,
  scanImageFolder,
} from './folder';
export { type ImageJob, type ImageJobResult, type PixelFormat, runImageJob } from './job';
export {
  type LatentBatch,
  type LatentBatchOptions,
  LatentCache,
  type LatentCacheIndex,
  type LatentEncoder,
  type WriteLatentCacheOptions,
  writeLatentCache,
} from './latent-cache';
export {
  type EpochReport,
  type ImageBatch,
  ImageLoader,
  type ImageLoaderOptions,
  type LoaderPosition,
  type SkippedImage,
} from './loader';
export { WorkerPool, defaultWorkerScript } from './pool';
export { writeStatsFile } from './stats-node';
