import { defineConfig } from 'tsup';

// One executable ESM file; the @svg packages and tfjs stay external (resolved from node_modules).
export default defineConfig({
  entry: ['src/main.ts'],
  format: ['esm'],
  target: 'es2022',
  sourcemap: true,
  clean: true,
  banner: { js: '#!/usr/bin/env node' },
});
