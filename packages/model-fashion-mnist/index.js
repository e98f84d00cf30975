import { fileURLToPath } from 'node:url';

/** The folder holding `svg-model.json` and the weights (Node). */
export const MODEL_DIR = fileURLToPath(new URL('.', import.meta.url));
