import { defineConfig } from 'tsup';
import { packageOptions } from '../../tsup.shared';

// shims: import.meta.url in the CJS build too (MODEL_DIR is found relative to the built file).
export default defineConfig(packageOptions({ shims: true }));
