import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plugin, defineConfig } from 'vite';

const packages = fileURLToPath(new URL('../../packages/', import.meta.url));
const demoModel = join(packages, 'model-fashion-mnist');
/**
 * The files of the shipped Fashion-MNIST SVG (`@svg/model-fashion-mnist`) that the page loads, as its manifest names
 * them (the judge's classifier is not one), served under demo-model/.
 */
const manifest = JSON.parse(readFileSync(join(demoModel, 'svg-model.json'), 'utf8')) as Record<string, string>;
const DEMO_FILES = ['svg-model.json', manifest.dit, manifest.autoencoder, manifest.autoencoderConfig, manifest.stats];

/** The demo model as static assets: copied into the build, served by the dev and preview servers. */
function demoModelAssets(): Plugin {
  const serve = (server: { middlewares: { use: (fn: (req: { url?: string }, res: NodeJS.WritableStream & { setHeader(k: string, v: string): void }, next: () => void) => void) => void } }) =>
    server.middlewares.use((req, res, next) => {
      const m = /\/demo-model\/([^/?]+)$/.exec((req.url ?? '').split('?')[0]);
      if (!m || !DEMO_FILES.includes(m[1])) return next();
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
      createReadStream(join(demoModel, m[1])).pipe(res);
    });
  return {
    name: 'svg-demo-model',
    configureServer: serve,
    configurePreviewServer: serve,
    generateBundle() {
      for (const file of DEMO_FILES) this.emitFile({ type: 'asset', fileName: `demo-model/${file}`, source: readFileSync(join(demoModel, file)) });
    },
  };
}

/** Cross-origin isolation: lets tfjs' wasm backend use threads (SharedArrayBuffer). */
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // Relative asset URLs: the built page works from any folder of any static server.
  base: './',
  plugins: [demoModelAssets()],
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
