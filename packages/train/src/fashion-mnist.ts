import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

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
