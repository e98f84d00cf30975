export { expectClose, fixturesDir, loadFixture } from '../../../tools/testing/fixtures';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

const here = dirname(fileURLToPath(import.meta.url));

const packageDir = resolve(here, '..');

/** A scratch folder inside the package (git-ignored `test-artifacts/`), created fresh. */
export function scratchDir(name: string): string {
  const dir = resolve(packageDir, 'test-artifacts', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

let workerScript: string | undefined;

/** Bundles `src/worker.ts` to JavaScript (tests run from source, but worker threads need JS). */
export async function buildWorkerScript(): Promise<string> {
  if (workerScript) return workerScript;
  const { build } = await import('esbuild');
  const outfile = resolve(packageDir, 'test-artifacts', 'worker.mjs');
  await build({
    entryPoints: [resolve(here, 'worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['sharp'],
    outfile,
    logLevel: 'error',
  });
  workerScript = outfile;
  return outfile;
}

/** Fashion-MNIST class names, by label. */
export const FASHION_CLASSES = ['T-shirt_top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle_boot'];

/** Debian's dataset-fashion-mnist files. */
export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** The first `perClass` test images of each class: 28×28 grey pixels by class label. */
export function fashionMnist(perClass: number): Uint8Array[][] {
  const images = gunzipSync(readFileSync(`${FASHION_DIR}/t10k-images-idx3-ubyte.gz`));
  const labels = gunzipSync(readFileSync(`${FASHION_DIR}/t10k-labels-idx1-ubyte.gz`));
  if (images.readUInt32BE(0) !== 2051 || labels.readUInt32BE(0) !== 2049) throw new Error('not IDX files');
  const n = labels.readUInt32BE(4);
  const out: Uint8Array[][] = FASHION_CLASSES.map(() => []);
  for (let i = 0; i < n; i++) {
    const label = labels[8 + i];
    if (out[label].length < perClass) out[label].push(new Uint8Array(images.subarray(16 + i * 784, 16 + (i + 1) * 784)));
  }
  return out;
}

/**
 * Writes `perClass` Fashion-MNIST images per class as grey PNGs in an ImageFolder tree
 * `<dir>/<class name>/<nnn>.png`, plus `Bag/zzz_corrupt.png` (not an image) and `Coat/zzz_truncated.png` (cut in
 * half). Returns the folder, the number of good images, and the corrupt paths.
 */
export async function writeFashionMnistFolder(
  name: string,
  perClass: number,
): Promise<{ root: string; good: number; corrupt: string[] }> {
  const root = scratchDir(name);
  const sets = fashionMnist(perClass);
  for (let label = 0; label < sets.length; label++) {
    const dir = join(root, FASHION_CLASSES[label]);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < sets[label].length; i++) {
      const png = await sharp(sets[label][i], { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
      writeFileSync(join(dir, `${String(i).padStart(3, '0')}.png`), png);
    }
  }
  const corrupt = join(root, 'Bag', 'zzz_corrupt.png');
  writeFileSync(corrupt, 'this is not a PNG file');
  const truncated = join(root, 'Coat', 'zzz_truncated.png');
  const whole = readFileSync(join(root, 'Coat', '000.png'));
  writeFileSync(truncated, whole.subarray(0, whole.length >> 1));
  return { root, good: perClass * sets.length, corrupt: [corrupt, truncated] };
}
