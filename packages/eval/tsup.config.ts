import { defineConfig } from 'tsup';
import { packageOptions } from '../../tsup.shared';

// Two entries: the browser-safe main one and `./node` with the npz file helpers (node:fs).
export default defineConfig(packageOptions({ entry: ['src/index.ts', 'src/node.ts'] }));
