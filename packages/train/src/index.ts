/**
 * @svg/train: training for SVG in Node — the DiT (`train_svg.py`) and the autoencoder (`main_svg_autoencoder.py`)
 * from the upstream YAML configs, with exact resume, atomic checkpoints, JSONL metrics, a loss-curve PNG and sample
 * grids, on one process or data-parallel over MPI (`@svg/distributed`). The building blocks (AdamW/Adam matching
 * PyTorch, EMA, gradient clipping, the pure step functions, the shared {@link runTrainingLoop}) are exported for
 * custom trainers.
 *
 * Node-only: it reads datasets and writes checkpoints with `node:fs`.
 *
 * @example
 * import { trainDiT } from '@svg/train';
 * await trainDiT({ config: 'configs/tiny-dit-fashion-mnist.yaml', backend: 'wasm',
 *   onProgress: (p) => console.log(`step ${p.step} loss ${p.loss.toFixed(4)}`) });
 */
export { trainDiT, type TrainDiTOptions, loadAutoencoder } from './train-dit';
export { trainAutoencoder, type TrainAutoencoderOptions } from './train-autoencoder';
export { BACKBONE_FILE, type ClassifierEval, EVAL_FILE, evaluateClassifier, learningRate, trainClassifier } from './train-classifier';
export { type ClassifierNet, Dinov3Classifier, createClassifierNet } from './classifier-net';
export { type TrainOptions, type TrainProgress, type TrainResult } from './run';
export { type LoopBatch, type LoopStart, type LoopStepResult, type TrainingLoopSpec, runTrainingLoop } from './loop';
export { rankRows, shareTensors } from './data-parallel';
export {
  type AutoencoderTrainConfig,
  type ClassifierModelConfig,
  type ClassifierTrainConfig,
  type DatasetKind,
  type DiTTrainConfig,
  type TrainConfig,
  type TrainSection,
  loadTrainConfig,
  parseTrainConfig,
} from './config';
export { AdamW, Adam, type AdamOptions } from './optim';
export { Ema } from './ema';
export { clipGradNorm, globalNorm } from './clip';
export {
  type DiTBatch,
  type DiTStepContext,
  type Gradients,
  type StepResult,
  NonFiniteLossError,
  applyDiTGradients,
  ditGradients,
  ditTrainStep,
} from './dit-step';
export { type AutoencoderStepContext, type AutoencoderStepResult, autoencoderTrainStep } from './autoencoder-step';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointInfo,
  type CheckpointState,
  type WriteCheckpointOptions,
  findLatestCheckpoint,
  listCheckpoints,
  pruneCheckpoints,
  readCheckpointTensors,
  removeStaleTemporaries,
  verifyCheckpoint,
  writeCheckpoint,
} from './checkpoint';
export {
  type DataPosition,
  type ImageBatch,
  type ImageSource,
  type LatentSource,
  type StreamOptions,
  type TokenBatch,
  FashionMnistImages,
  FashionMnistSource,
  FolderImages,
  ImageFolderSource,
  LatentCacheSource,
} from './data';
export { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, type GreyImages, fashionMnistFolderName, loadFashionMnist, parseIdx, writeFashionMnistFolders } from './fashion-mnist';
export { PatchProjection, type PatchProjectionOptions } from './patch-projection';
export { type MetricsEntry, MetricsLog, RateMeter, writeLossCurve } from './metrics';
export { type PlotOptions, type RgbCanvas, type Series, niceTicks, plotCurves, plotCurvesPng } from './plot';
