/**
 * @svg/generate: class-conditional image generation with SVG, the same procedure in Node (the `svg sample`
 * command) and in the browser (the sampler page).
 */
export {
  type GenerateOptions,
  type GeneratedImage,
  type LatentDecoder,
  type RgbImage,
  SAMPLE_CLASSES_IMAGENET,
  decodeLatents,
  generateImages,
  generationSettings,
} from './generate';
export { type GeneratorParts, GeneratorMismatchError, checkGeneratorParts, statsChannels } from './compat';
export { type GridOptions, imageGrid } from './grid';
export { MODEL_MANIFEST, type ModelManifest, findClassName, parseModelManifest } from './manifest';
