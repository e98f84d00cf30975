/**
 * @svg/dit: the SVG diffusion transformer (`models/models_SVG.py::DiT`) on tfjs, with upstream state-dict names.
 * Node file loading lives in the `@svg/dit/node` entry (`loadDiTFile`).
 */
export {
  type DiTConfig,
  type DiTConfigInput,
  type DiTPresetName,
  DIT_PRESETS,
  FREQUENCY_EMBEDDING_SIZE,
  NUM_TOKENS,
  numTokens,
  SVG_DIT_XL,
  configFromUpstream,
  forwardFlops,
  labelTableSize,
  outputWidth,
  resolveConfig,
} from './config';
export { DiT, type DiTForwardOptions, createDiT } from './dit';
export { DiTBlock, FinalLayer, GatedMlp } from './blocks';
export { type BatchValues, LabelEmbedder, TimestepEmbedder, accurateCosSin, sinCosPositionTable, timestepFeatures, timestepTable } from './embeddings';
export { type DiTSource, ditStateDict, inferDiTConfig, loadDiT } from './load';
