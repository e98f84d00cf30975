/**
 * @svg/train: training the SVG autoencoder and DiT on one device, as the reference does it, resumable bit for bit,
 * with atomic checkpoints. `trainDiT` / `trainAutoencoder` drive whole runs (the `svg train` commands call them);
 * the step functions, optimiser, EMA and checkpoint helpers are exported for custom loops.
 */
export { type TrainDiTOptions, SAMPLE_CLASSES_IMAGENET, trainDiT } from './train-dit';
export { type TrainAutoencoderOptions, trainAutoencoder } from './train-autoencoder';
export { type TrainOptions, type TrainProgress, type TrainResult } from './run';
export {
  type AutoencoderTrainConfig,
  type DatasetKind,
  type DiTTrainConfig,
  type TrainConfig,
  type TrainSection,
  loadTrainConfig,
  parseTrainConfig,
} from './config';
export { type DiTBatch, type DiTStepContext, type Gradients, type StepResult, NonFiniteLossError, applyDiTGradients, ditGradients, ditTrainStep } from './dit-step';
export { type AutoencoderStepContext, type AutoencoderStepResult, autoencoderTrainStep } from './autoencoder-step';
export { type AdamOptions, Adam, AdamW } from './optim';
export { Ema } from './ema';
export { clipGradNorm, globalNorm } from './clip';
export {
  type CheckpointInfo,
  type CheckpointState,
  type WriteCheckpointOptions,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  listCheckpoints,
  pruneCheckpoints,
  readCheckpointTensors,
  verifyCheckpoint,
  writeCheckpoint,
} from './checkpoint';
export {
  type DataPosition,
  type ImageBatch,
  type ImageSource,
  type LatentSource,
  type TokenBatch,
  FashionMnistImages,
  FashionMnistSource,
  FolderImages,
  ImageFolderSource,
  LatentCacheSource,
} from './data';
export { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from './fashion-mnist';
export { type MetricsEntry, MetricsLog } from './metrics';
export { type Series, plotCurves, plotCurvesPng } from './plot';
