import { defineConfig } from 'tsup';
import { packageOptions } from '../../tsup.shared';

// `shims` gives the CJS build an `import.meta.url`, which the addon loader resolves the .node file from.
export default defineConfig(packageOptions({ shims: true }));
