import { resolve } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const src = resolve(__dirname);

describe('package entries', () => {
  it('the main entry bundles for the browser: no node builtins, no sharp', async () => {
    const result = await build({
      entryPoints: [resolve(src, 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.includes('browser.ts'))).toBe(true);
    expect(inputs.filter((p) => /node_modules|node:/.test(p))).toEqual([]);
  });

  it('the node entry does not pull in the browser decoder', async () => {
    const result = await build({
      entryPoints: [resolve(src, 'node.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      external: ['sharp', '@svg/weights'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.endsWith('loader.ts'))).toBe(true);
    expect(inputs.some((p) => p.endsWith('browser.ts'))).toBe(false);
  });
});
