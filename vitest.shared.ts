import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Tests import sibling packages from source, so a package's tests never wait for another's build. */
const aliases = readdirSync(`${root}packages`).flatMap((dir) => [
  { find: new RegExp(`^@svg/${dir}$`), replacement: `${root}packages/${dir}/src/index.ts` },
  { find: new RegExp(`^@svg/${dir}/node$`), replacement: `${root}packages/${dir}/src/node.ts` },
]);

export function packageTestConfig() {
  return defineConfig({
    resolve: { alias: aliases },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      // Generous: the WebGPU parity cases run on SwiftShader (a CPU), ~70 s for the largest on an idle 2-core machine.
      testTimeout: 600_000,
      hookTimeout: 120_000,
      pool: 'forks',
      // Per-package JSON results, summed by tools/test-summary.mjs into one closing line for CI.
      reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
      fileParallelism: false,
    },
  });
}
