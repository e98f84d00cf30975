import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { encodePng } from '@svg/data-imagenet';

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST class names, by label. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

/** A set of greyscale images with labels. */
export interface GreyImages {
  /** `count · height · width` bytes, row-major, 0 = black. */
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

/**
 * Reads an IDX file (the MNIST format: big-endian magic `0x0000 08 NN` with unsigned-byte data and NN dimensions,
 * then NN big-endian uint32 sizes), gzip-compressed or not. Returns the dimensions and the bytes.
 */
export function parseIdx(bytes: Uint8Array, source = '<idx>'): { dims: number[]; data: Uint8Array } {
  const buf = bytes[0] === 0x1f && bytes[1] === 0x8b ? new Uint8Array(gunzipSync(bytes)) : bytes;
  if (buf.length < 4) throw new Error(`${source}: not an IDX file (too short)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint16(0) !== 0 || buf[2] !== 0x08) throw new Error(`${source}: not an unsigned-byte IDX file (magic ${view.getUint32(0).toString(16)})`);
  const rank = buf[3];
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length < start + size) throw new Error(`${source}: truncated (${buf.length - start} of ${size} data bytes)`);
  return { dims, data: buf.subarray(start, start + size) };
}

/**
 * Loads the Fashion-MNIST `train` (60,000) or `test` (10,000) split from `dir` (the gzip IDX files
 * `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, ...). `limit` keeps the first images only.
 */
export async function loadFashionMnist(dir = FASHION_MNIST_DIR, split: 'train' | 't10k' | 'test' = 'train', limit?: number): Promise<GreyImages> {
  const prefix = split === 'test' ? 't10k' : split;
  const read = async (name: string) => {
    const file = join(dir, `${prefix}-${name}-ubyte.gz`);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new Error(`Fashion-MNIST: cannot read ${file} (${(e as Error).message}); on Debian: apt install dataset-fashion-mnist`);
    }
    return parseIdx(bytes, file);
  };
  const images = await read('images-idx3');
  const labels = await read('labels-idx1');
  if (images.dims.length !== 3 || labels.dims.length !== 1 || images.dims[0] !== labels.dims[0]) {
    throw new Error(`Fashion-MNIST: images [${images.dims}] and labels [${labels.dims}] do not match`);
  }
  const [n, h, w] = images.dims;
  const count = Math.min(n, limit ?? n);
  return { pixels: images.data.subarray(0, count * h * w), labels: labels.data.subarray(0, count), count, height: h, width: w };
}

/** Folder name of class `k` in an exported image folder: index first, so sorting keeps Fashion-MNIST's label order. */
export function fashionMnistFolderName(k: number): string {
  return `${k}-${FASHION_MNIST_CLASSES[k].replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}`;
}

/**
 * Writes Fashion-MNIST as two ImageFolders of PNGs, `<out>/train/<k>-<class>/<index>.png` (60,000) and
 * `<out>/test/...` (10,000): greyscale, each 28×28 image centred on a black `size × size` canvas (default 32, the
 * demo SVG's input), so every tool that reads image folders (`svg stats`, the latent cache) sees exactly the images
 * the trainers render. Each split is written into a hidden temporary folder and renamed into place when complete; a
 * split that already exists is kept. `limit` keeps the first images of each split (previews, tests).
 */
export async function writeFashionMnistFolders(out: string, options: { dir?: string; size?: number; limit?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<{ split: string; path: string; images: number; written: boolean }[]> {
  const size = options.size ?? 32;
  await mkdir(out, { recursive: true });
  const results = [];
  for (const split of ['train', 'test'] as const) {
    const final = join(out, split);
    const data = await loadFashionMnist(options.dir, split, options.limit);
    if (await isDirectory(final)) {
      results.push({ split, path: final, images: data.count, written: false });
      continue;
    }
    const tmp = join(out, `.${split}.tmp-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    for (let k = 0; k < FASHION_MNIST_CLASSES.length; k++) await mkdir(join(tmp, fashionMnistFolderName(k)), { recursive: true });
    const { height: h, width: w } = data;
    const top = Math.floor((size - h) / 2);
    const left = Math.floor((size - w) / 2);
    for (let i = 0; i < data.count; i++) {
      const pixels = new Uint8Array(size * size);
      for (let y = 0; y < h; y++) pixels.set(data.pixels.subarray((i * h + y) * w, (i * h + y + 1) * w), (top + y) * size + left);
      const png = await encodePng({ width: size, height: size, channels: 1, pixels });
      await writeFile(join(tmp, fashionMnistFolderName(data.labels[i]), `${String(i).padStart(5, '0')}.png`), png);
      if (i % 1000 === 999) options.onProgress?.(i + 1, data.count);
    }
    await rename(tmp, final);
    results.push({ split, path: final, images: data.count, written: true });
  }
  return results;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
