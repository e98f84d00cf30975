import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const packages = fileURLToPath(new URL('../../packages/', import.meta.url));

/** Cross-origin isolation: lets tfjs' wasm backend use threads (SharedArrayBuffer). */
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // Relative asset URLs: the built page works from any folder of any static server.
  base: './',
  // The @svg packages are compiled from source, as in the tests: no package build is needed first.
  resolve: {
    alias: readdirSync(packages).map((dir) => ({ find: new RegExp(`^@svg/${dir}$`), replacement: `${packages}${dir}/src/index.ts` })),
  },
  build: {
    target: 'es2022',
    // Minifying breaks tfjs-wasm's threaded build under cross-origin isolation: its pthread worker is made from
    // the stringified factory, whose minified free variables ("e is not defined") no longer exist there.
    minify: false,
    chunkSizeWarningLimit: 4000,
    rolldownOptions: {
      onLog(level, log, handler) {
        // @svg/nn imports the wasm backend lazily; the page imports it up front for setWasmPaths. That is intended.
        if (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
        handler(level, log);
      },
    },
  },
  server: { headers: isolation },
  preview: { headers: isolation },
});
