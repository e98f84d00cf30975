/**
 * @svg/model-fashion-mnist: a small SVG trained here on Fashion-MNIST with svg-ts's own pipeline
 * (`npm run train:demo`): a DINOv3-architecture encoder, the SVG autoencoder and a DiT, as f16 safetensors with
 * `svg-model.json` and a model card (README.md). `svg sample` uses it when no model is named; the sampler page
 * serves its files as static assets.
 *
 * @example
 * import { MODEL_DIR } from '@svg/model-fashion-mnist';
 * // svg sample --model ${MODEL_DIR}   (or load the files listed in ${MODEL_DIR}/svg-model.json yourself)
 */
import { fileURLToPath } from 'node:url';

/** The folder holding `svg-model.json` and the weights (Node). In a browser, serve the folder's files instead. */
export const MODEL_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The files of the model, relative to {@link MODEL_DIR}. */
export const MODEL_FILES = ['svg-model.json', 'dit.safetensors', 'autoencoder.safetensors', 'autoencoder.yaml', 'stats.safetensors', 'classifier.safetensors'] as const;
