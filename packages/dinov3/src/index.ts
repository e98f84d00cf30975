/**
 * @svg/dinov3: the DINOv3 ViT backbones (facebookresearch/dinov3) on tfjs, numerically matching the official
 * PyTorch models (bfloat16-rounded RoPE periods from the checkpoint, host-built float64 sin/cos tables).
 *
 * @example
 * const model = await loadDinov3(bytesOrPathOrUrl);               // preset inferred from the weights
 * const x = preprocess(imageTensorUint8);                          // [B, H, W, 3], ImageNet-normalised
 * const { patchTokens, clsToken, storageTokens, prenorm } = model.forwardFeatures(x);
 */
export {
  type Dinov3Config,
  type Dinov3ConfigInput,
  type Dinov3PresetName,
  type FfnLayer,
  type NormLayer,
  type RopeNormalizeCoords,
  CONSTRUCTOR_DEFAULTS,
  DINOV3_PRESETS,
  DINOV3_PRESET_NAMES,
  ffnHiddenDim,
  resolveConfig,
} from './config';
export {
  type Dinov3Features,
  type Dinov3LoadOptions,
  type IntermediateLayer,
  type IntermediateLayersOptions,
  Dinov3ViT,
  createDinov3,
  detectPrefix,
  prepareStateDict,
} from './model';
export { type InferredConfig, type LoadDinov3Options, type WeightsSource, inferDinov3Config, loadDinov3, readStateDict } from './load';
export { fromHuggingFace, isHuggingFaceStateDict } from './hf';
export { LayerScale, LinearKMaskedBias, PatchEmbed, SelfAttentionBlock, kBiasMask } from './layers';
export { type RopeAugmentation, type RopePeriodOptions, RopePositionEmbedding, applyRope, ropePeriods, ropeTables, roundToBFloat16 } from './rope';
export {
  type ImageDataLike,
  type PreprocessOptions,
  IMAGENET_MEAN,
  IMAGENET_STD,
  SAT493M_MEAN,
  SAT493M_STD,
  preprocess,
} from './preprocess';
