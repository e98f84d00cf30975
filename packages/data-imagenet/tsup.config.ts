import { defineConfig } from 'tsup';
import { packageOptions } from '../../tsup.shared';

// worker.ts is the worker-thread script the node loader starts (dist/worker.js); shims give the CJS build
// an import.meta.url to find it.
export default defineConfig(packageOptions({ entry: ['src/index.ts', 'src/node.ts', 'src/worker.ts'], shims: true }));
