import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { type Browser, type Page, chromium } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centerCropArr } from './crop';
import { decodeImage } from './decode-node';
import { fixturesDir, loadFixture } from './test-util';

// Headless Chromium (Debian's, installed by tools/setup.sh) runs the browser decoder on real files.
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const bundle = await build({
    stdin: {
      contents: `import { decodeImageInBrowser, loadCenterCropInBrowser } from './index';
        globalThis.decodeB64 = async (b64, size) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const img = size ? await loadCenterCropInBrowser(bytes, size) : await decodeImageInBrowser(bytes);
          let bin = '';
          for (let i = 0; i < img.data.length; i += 8192) bin += String.fromCharCode(...img.data.subarray(i, i + 8192));
          return { width: img.width, height: img.height, data: btoa(bin) };
        };`,
      resolveDir: resolve(__dirname),
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    write: false,
    logLevel: 'silent',
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
});

afterAll(async () => {
  await browser?.close();
});

async function decodeInBrowser(bytes: Uint8Array, size = 0) {
  const r = await page.evaluate(([b64, s]) => (globalThis as any).decodeB64(b64, s), [Buffer.from(bytes).toString('base64'), size] as const);
  return { width: r.width as number, height: r.height as number, data: new Uint8Array(Buffer.from(r.data as string, 'base64')) };
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('decodeImageInBrowser (Chromium)', () => {
  it('decodes PNG (RGB and grey) exactly like the Node path, and crops identically', async () => {
    const png = readFileSync(resolve(fixturesDir(), 'images', 'chelsea.png'));
    const node = await decodeImage(png);
    const web = await decodeInBrowser(png);
    expect([web.width, web.height]).toEqual([node.width, node.height]);
    expect(maxDiff(web.data, node.data)).toBe(0);
    const crop = await decodeInBrowser(png, 64);
    expect(maxDiff(crop.data, centerCropArr(node, 64).data)).toBe(0);
    const grey = await sharp(png).greyscale().toColourspace('b-w').png().toBuffer();
    expect(maxDiff((await decodeInBrowser(grey)).data, (await decodeImage(grey)).data)).toBe(0);
  });

  it("decodes the fixture JPEGs like Pillow (identical with Debian's Chromium; at most 2 levels allowed)", async () => {
    const fixture = loadFixture('preprocess');
    for (const name of ['rocket', 'china', 'flower']) {
      const web = await decodeInBrowser(readFileSync(resolve(fixturesDir(), 'images', `${name}.jpg`)));
      const pillow = fixture.io.get(`decoded_${name}`)!;
      expect([web.height, web.width, 3]).toEqual(pillow.shape);
      expect(maxDiff(web.data, pillow.data as Uint8Array)).toBeLessThanOrEqual(2);
      const crop = await decodeInBrowser(readFileSync(resolve(fixturesDir(), 'images', `${name}.jpg`)), 256);
      expect(maxDiff(crop.data, fixture.io.get(`crop256_${name}`)!.data as Uint8Array)).toBeLessThanOrEqual(2);
    }
  });
});
