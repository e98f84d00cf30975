/**
 * End to end: builds the page, serves it with cross-origin isolation, and drives it in headless Chromium with
 * WebGPU on SwiftShader: load tiny random-weight checkpoints by URL, generate one image, and compare it with the
 * same generation in Node (cpu backend, same packages). Also checks the PNG's text chunks, "same seed again",
 * that a reload loads the weights from the browser's cache, and that loading errors are shown in the page.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSvgAutoencoder } from '@svg/autoencoder';
import { readPngText } from '@svg/data-imagenet';
import { loadDiT } from '@svg/dit';
import { latentStatsFromSafetensors } from '@svg/flow';
import { generateImages } from '@svg/generate';
import { initBackend } from '@svg/nn';
import { MODEL_DIR } from '@svg/model-fashion-mnist';
import { writeTinyCheckpoints } from './checkpoints';
import { type StaticServer, serveStatic } from './server';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const distDir = join(appDir, 'dist');
const artifacts = join(appDir, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const STATS = process.env.SVG_STATS ?? fileURLToPath(new URL('../../../../shared/data/dinov3_sp_stats.safetensors', import.meta.url));
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
];

/** What the test generates: the page's form values and the same options for Node. */
const JOB = { classIndex: 207, seed: 42, steps: 2, cfg: 4, shift: 0.15, sampler: 'euler' as const, cfgMode: 'constant' };

let modelsDir: string;
let userDataDir: string;
let files: Awaited<ReturnType<typeof writeTinyCheckpoints>>;
let server: StaticServer;
let context: BrowserContext;
let page: Page;
let nodePixels: Uint8Array;
const pageErrors: string[] = [];

const modelUrl = (name: string) => `${server.url}/models/${name}`;
// Weight and config files only: the page also asks for an svg-model.json beside the DiT (a 404 here), every load.
const modelRequests = () => [...server.requests].filter(([path]) => path.startsWith('/models/') && !path.endsWith('/svg-model.json')).reduce((n, [, c]) => n + c, 0);

async function setSlot(slot: string, url: string, p = page): Promise<void> {
  await p.fill(`.slot[data-slot="${slot}"] input[type=text]`, url);
}

/** Clicks "Load models" and waits until loading has ended (successfully or not). */
async function loadModels(p = page): Promise<void> {
  await p.click('#load');
  await p.waitForFunction(() => ['ready', 'idle'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 60_000 });
}

async function errorsInPage(p = page): Promise<string[]> {
  return p.$$eval('#errors .error', (els) => els.map((e) => e.textContent ?? ''));
}

/** RGB pixels of the gallery card at `index` (0 = newest), read from its canvas. */
async function cardPixels(index: number, p = page): Promise<Uint8Array> {
  const rgba = await p.$$eval(
    '#gallery .card canvas',
    (canvases, i) => {
      const c = canvases[i] as HTMLCanvasElement;
      return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
    },
    index,
  );
  return Uint8Array.from(rgba.filter((_, i) => i % 4 !== 3));
}

/** Sets the form to {@link JOB} (steps, image count and seed overridable) and clicks Generate. */
async function startJob(p: Page, { steps = JOB.steps, count = 1, seed = JOB.seed } = {}): Promise<void> {
  await p.fill('#class', 'golden retriever');
  await p.fill('#count', String(count));
  await p.fill('#steps', String(steps));
  await p.fill('#cfg', String(JOB.cfg));
  await p.fill('#cfg-mode', JOB.cfgMode);
  await p.selectOption('#sampler', JOB.sampler);
  await p.fill('#shift', String(JOB.shift));
  await p.fill('#seed', String(seed));
  await p.click('#generate');
}

async function setAllSlots(p: Page): Promise<void> {
  await setSlot('dit', modelUrl('tiny-dit.safetensors'), p);
  await setSlot('decoder', modelUrl('tiny-autoencoder.safetensors'), p);
  await setSlot('config', modelUrl('tiny-autoencoder.yaml'), p);
  await setSlot('stats', modelUrl('stats.safetensors'), p);
}

function compare(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

function spread(pixels: Uint8Array): number {
  const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length;
  return Math.sqrt(pixels.reduce((s, v) => s + (v - mean) ** 2, 0) / pixels.length);
}

beforeAll(async () => {
  await initBackend('cpu');
  await build({ root: appDir, configFile: join(appDir, 'vite.config.ts'), logLevel: 'error' });
  await mkdir(artifacts, { recursive: true });
  modelsDir = await mkdtemp(join(tmpdir(), 'svg-sampler-models-'));
  files = await writeTinyCheckpoints(modelsDir);
  await copyFile(STATS, join(modelsDir, 'stats.safetensors'));

  // The reference: the same files, the same packages, in Node on the cpu backend.
  const dit = loadDiT(new Uint8Array(await readFile(files.dit)));
  const decoder = await loadSvgAutoencoder(new Uint8Array(await readFile(files.autoencoder)), {
    config: await readFile(files.config, 'utf8'),
    decoderOnly: true,
  });
  const stats = latentStatsFromSafetensors(new Uint8Array(await readFile(STATS)));
  const [image] = await generateImages({ dit, decoder, stats, classes: [JOB.classIndex], ...JOB, mode: JOB.sampler });
  nodePixels = image.pixels;
  dit.dispose();
  decoder.dispose();

  server = await serveStatic({ '/': distDir, '/models/': modelsDir });
});

afterAll(async () => {
  await server?.close();
  if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
});

describe('sampler page in headless Chromium (WebGPU on SwiftShader)', () => {
  beforeAll(async () => {
    userDataDir = await mkdtemp(join(tmpdir(), 'svg-sampler-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.setDefaultTimeout(30_000);
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it('starts on WebGPU and shows the backend', async () => {
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.state !== 'starting');
    expect(await errorsInPage()).toEqual([]);
    expect(await page.getAttribute('#backend', 'data-backend')).toBe('webgpu');
    expect(await page.textContent('#backend')).toMatch(/webgpu/);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(await page.$$eval('#class-list option', (o) => o.length)).toBe(1000);
  });

  it('shows loading errors in the page: wrong file, missing URL', async () => {
    await setSlot('dit', modelUrl('tiny-autoencoder.safetensors'));
    await setSlot('decoder', modelUrl('tiny-autoencoder.safetensors'));
    await setSlot('config', modelUrl('tiny-autoencoder.yaml'));
    await setSlot('stats', modelUrl('stats.safetensors'));
    await loadModels();
    expect((await errorsInPage()).join('\n')).toMatch(/tiny-autoencoder\.safetensors.*ln1\.weight.*DiT checkpoint/);
    expect(await page.getAttribute('body', 'data-state')).toBe('idle');

    await setSlot('dit', modelUrl('missing.safetensors'));
    await loadModels();
    expect((await errorsInPage()).join('\n')).toMatch(/missing\.safetensors: HTTP 404/);

    // Decoder weights that do not fit the config: every mismatched key is named.
    await setSlot('dit', modelUrl('tiny-dit.safetensors'));
    await setSlot('config', '');
    await loadModels();
    expect((await errorsInPage()).join('\n')).toMatch(/shape mismatches.*decoder\.conv_in\.weight: expected \[512,392,3,3\], got \[32,392,3,3\]/);
  });

  it('loads the tiny checkpoints by URL and generates the image Node generates for the same seed', async () => {
    await setSlot('config', modelUrl('tiny-autoencoder.yaml'));
    await loadModels();
    expect(await errorsInPage()).toEqual([]);
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    expect(await page.textContent('#load-status')).toMatch(/Models loaded/);

    await page.check('#preview-on');
    await page.fill('#preview-every', '1');
    await startJob(page);
    await page.waitForSelector('#gallery .card', { timeout: 100_000 });
    expect(await errorsInPage()).toEqual([]);
    expect(await page.textContent('#progress-text')).toMatch(/step 2\/2 · \d+\.\d+ it\/s/);

    const pixels = await cardPixels(0);
    expect(pixels.length).toBe(32 * 32 * 3);
    expect(spread(pixels)).toBeGreaterThan(10); // not blank
    const diff = compare(pixels, nodePixels);
    expect(diff.max).toBeLessThanOrEqual(3);
    expect(diff.mean).toBeLessThan(0.5);
    await page.screenshot({ path: join(artifacts, 'sampler-e2e.png'), fullPage: true });
  });

  it('downloads a PNG with the settings in its text chunks', async () => {
    const png = await page.$eval('#gallery .card a.download', async (a) => {
      const response = await fetch((a as HTMLAnchorElement).href);
      return { name: (a as HTMLAnchorElement).download, bytes: Array.from(new Uint8Array(await response.arrayBuffer())) };
    });
    expect(png.name).toBe('svg-207-seed42.png');
    const text = readPngText(Uint8Array.from(png.bytes));
    expect(text).toMatchObject({
      class: '207 golden retriever',
      seed: '42',
      steps: '2',
      cfg: '4',
      sampler: 'euler',
      shift: '0.15',
      'cfg-mode': 'constant',
      backend: 'webgpu',
      dit: 'tiny-dit.safetensors',
      autoencoder: 'tiny-autoencoder.safetensors',
    });
  });

  it('"same seed again" reproduces the image exactly on the same backend', async () => {
    await page.fill('#seed', '7'); // the button must use the card's seed, not the form's
    await page.click('#gallery .card .same-seed');
    await page.waitForFunction(() => document.querySelectorAll('#gallery .card').length === 2, undefined, { timeout: 100_000 });
    expect(await page.getAttribute('#gallery .card', 'data-seed')).toBe('42');
    expect(compare(await cardPixels(0), await cardPixels(1)).max).toBe(0);
  });

  it('after a reload the weights come from the browser cache, not the server', async () => {
    const before = modelRequests();
    expect(before).toBeGreaterThan(0);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.state === 'idle');
    expect(await page.inputValue('.slot[data-slot="dit"] input[type=text]')).toBe(modelUrl('tiny-dit.safetensors'));
    await loadModels();
    expect(await errorsInPage()).toEqual([]);
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    expect(modelRequests()).toBe(before);
    expect(pageErrors).toEqual([]);
  });

  it('a picked local file is cached too: after a reload, "cache:<name>" loads it without the file or the server', async () => {
    await page.setInputFiles('.slot[data-slot="dit"] input[type=file]', files.dit);
    await loadModels();
    expect(await errorsInPage()).toEqual([]);
    expect(await page.inputValue('.slot[data-slot="dit"] input[type=text]')).toBe('cache:tiny-dit.safetensors');
    const before = modelRequests();
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.state === 'idle');
    await loadModels();
    expect(await errorsInPage()).toEqual([]);
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    expect(await page.textContent('.slot[data-slot="dit"] .status')).toMatch(/^tiny-dit\.safetensors: 0\.1M params/);
    expect(modelRequests()).toBe(before);
  });
});

describe('sampler page in headless Chromium without WebGPU', () => {
  let noGpu: BrowserContext;
  let p: Page;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'svg-sampler-chromium-'));
    noGpu = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'),
    });
    p = noGpu.pages()[0] ?? (await noGpu.newPage());
    p.on('pageerror', (e) => pageErrors.push(e.message));
    p.setDefaultTimeout(30_000);
  });

  afterAll(async () => {
    await noGpu?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('falls back to WebGL and says that WebGPU is missing', async () => {
    await p.goto(server.url);
    await p.waitForFunction(() => document.body.dataset.state !== 'starting');
    expect(await p.getAttribute('#backend', 'data-backend')).toBe('webgl');
    expect(await errorsInPage(p)).toEqual([]);
    expect(await p.textContent('#errors .notice')).toMatch(/WebGPU is not available.*running on webgl/);
  });

  it('on ?backend=wasm (the built, unminified bundle under cross-origin isolation) matches Node and can cancel', async () => {
    await p.goto(`${server.url}/?backend=wasm`);
    await p.waitForFunction(() => document.body.dataset.state !== 'starting');
    expect(await p.getAttribute('#backend', 'data-backend')).toBe('wasm');
    await setAllSlots(p);
    await loadModels(p);
    expect(await errorsInPage(p)).toEqual([]);
    // Two images from seed 41: the second one (seed 42, the newest card) is the image Node made alone.
    await startJob(p, { count: 2, seed: 41 });
    await p.waitForFunction(() => document.querySelectorAll('#gallery .card').length === 2, undefined, { timeout: 60_000 });
    expect(await p.getAttribute('#gallery .card', 'data-seed')).toBe('42');
    const diff = compare(await cardPixels(0, p), nodePixels);
    expect(diff.max).toBeLessThanOrEqual(3);
    expect(diff.mean).toBeLessThan(0.5);

    await startJob(p, { steps: 500 });
    await p.waitForFunction(() => /step \d+\/500/.test(document.querySelector('#progress-text')?.textContent ?? ''));
    await p.click('#cancel');
    await p.waitForFunction(() => document.body.dataset.state === 'ready');
    expect(await p.textContent('#progress-text')).toBe('cancelled');
    expect(await p.$$eval('#gallery .card', (cards) => cards.length)).toBe(2);
    expect(await errorsInPage(p)).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('sampler page: a first visit with the shipped Fashion-MNIST SVG', () => {
  let fresh: BrowserContext;
  let p: Page;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'svg-sampler-chromium-'));
    fresh = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') });
    p = fresh.pages()[0] ?? (await fresh.newPage());
    p.on('pageerror', (e) => pageErrors.push(e.message));
    p.setDefaultTimeout(30_000);
  });

  afterAll(async () => {
    await fresh?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('Generate alone loads the demo model and draws one image per class, the images Node makes', async () => {
    await p.goto(`${server.url}/?backend=wasm`);
    await p.waitForFunction(() => document.body.dataset.state === 'idle');
    expect(await p.inputValue('.slot[data-slot="dit"] input[type=text]')).toBe('demo-model/dit.safetensors');
    await p.click('#generate');
    await p.waitForFunction(() => document.querySelectorAll('#gallery .card').length === 10, undefined, { timeout: 300_000 });
    expect(await errorsInPage(p)).toEqual([]);
    expect(await p.inputValue('#class')).toBe('all classes');
    expect(await p.inputValue('#shift')).toBe('1'); // the model's own sampler settings (svg-model.json)
    expect(await p.$$eval('#class-list option', (o) => o.map((x) => (x as HTMLOptionElement).value))).toContain('9 Ankle boot');
    for (let card = 0; card < 10; card++) expect(await p.getAttribute(`#gallery .card:nth-child(${card + 1})`, 'data-class')).toBe(String(9 - card)); // newest first

    // The newest card (ankle boot, seed 9) against the same model, class and seed in Node (cpu backend).
    const manifest = JSON.parse(await readFile(join(MODEL_DIR, 'svg-model.json'), 'utf8'));
    const dit = loadDiT(new Uint8Array(await readFile(join(MODEL_DIR, manifest.dit))));
    const decoder = await loadSvgAutoencoder(new Uint8Array(await readFile(join(MODEL_DIR, manifest.autoencoder))), {
      config: await readFile(join(MODEL_DIR, manifest.autoencoderConfig), 'utf8'),
      decoderOnly: true,
    });
    const stats = latentStatsFromSafetensors(new Uint8Array(await readFile(join(MODEL_DIR, manifest.stats))));
    const [node] = await generateImages({ dit, decoder, stats, classes: [9], seed: 9, steps: manifest.sampling.steps, cfg: manifest.sampling.cfg, shift: manifest.sampling.shift });
    dit.dispose();
    decoder.dispose();
    const pixels = await cardPixels(0, p);
    expect(spread(pixels)).toBeGreaterThan(10);
    const diff = compare(pixels, node.pixels);
    console.log(`demo model in the page (wasm) vs Node (cpu), ankle boot seed 9: max ${diff.max}, mean ${diff.mean.toFixed(3)}`);
    expect(diff.mean).toBeLessThan(1);
    await p.screenshot({ path: join(artifacts, 'sampler-demo.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
