import * as tf from '@tensorflow/tfjs-core';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { FashionMnistImages, FashionMnistSource } from './data';
import { FASHION_MNIST_CLASSES, loadFashionMnist, parseIdx } from './fashion-mnist';
import { PatchProjection } from './patch-projection';
import { useCpu } from './test-util';

beforeAll(useCpu);

describe('IDX / Fashion-MNIST', () => {
  it('parses IDX files, gzip or not, and rejects broken ones', () => {
    const raw = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
    for (const bytes of [raw, new Uint8Array(gzipSync(raw))]) {
      const { dims, data } = parseIdx(bytes);
      expect(dims).toEqual([2, 3]);
      expect(Array.from(data)).toEqual([1, 2, 3, 4, 5, 6]);
    }
    expect(() => parseIdx(raw.subarray(0, 15), 'x.idx')).toThrow(/x.idx: truncated \(3 of 6 data bytes\)/);
    expect(() => parseIdx(new Uint8Array([0, 0, 13, 1]))).toThrow(/not an unsigned-byte IDX file/);
  });

  it('reads the Debian Fashion-MNIST files', async () => {
    const d = await loadFashionMnist(undefined, 'train', 10);
    expect([d.count, d.height, d.width, d.pixels.length]).toEqual([10, 28, 28, 7840]);
    // The first training labels of Fashion-MNIST: ankle boot, T-shirt, T-shirt, dress, T-shirt.
    expect(Array.from(d.labels.subarray(0, 5))).toEqual([9, 0, 0, 3, 0]);
    expect(FASHION_MNIST_CLASSES[9]).toBe('Ankle boot');
    await expect(loadFashionMnist('/nonexistent')).rejects.toThrow(/apt install dataset-fashion-mnist/);
  });
});

describe('PatchProjection', () => {
  it('maps 2×2 patches of 32×32-padded images to 256 tokens and decodes them back exactly', async () => {
    const proj = new PatchProjection({ imageSize: 32, channels: 8, seed: 3 });
    const d = await loadFashionMnist(undefined, 'train', 2);
    const tokens = proj.encode(d.pixels, 2, 28, 28);
    expect(tokens.length).toBe(2 * 256 * 8);
    const back = proj.decodeTokens(tokens, 2);
    // Pixel (r, c) of the 28×28 image sits at (r + 2, c + 2); the padding decodes to black (−1).
    for (const [r, c] of [[0, 0], [13, 17], [27, 27]]) expect(back[(r + 2) * 32 + c + 2]).toBeCloseTo(d.pixels[r * 28 + c] / 127.5 - 1, 4);
    expect(back[0]).toBeCloseTo(-1, 4);
    // The tensor decoder (sample grids) agrees with the host one, as RGB.
    const latent = tf.tensor4d(tokens, [2, 16, 16, 8]);
    const images = proj.decode(latent);
    expect(images.shape).toEqual([2, 32, 32, 3]);
    const data = await images.data();
    expect(data[((1 * 32 + 20) * 32 + 9) * 3 + 2]).toBeCloseTo(back[32 * 32 + 20 * 32 + 9], 4);
    tf.dispose([latent, images]);
    expect(() => new PatchProjection({ channels: 3 })).toThrow(/need ≥ 4/);
  });

  it('streams shuffled batches with an exact resume position', async () => {
    const src = await FashionMnistSource.open(undefined, { limit: 20, channels: 8 });
    const opts = { batchSize: 4, seed: 1 };
    expect(src.samplesPerEpoch(opts)).toBe(20);
    const all: number[][] = [];
    const it1 = src.batches({ epoch: 0, index: 0 }, opts);
    for (let i = 0; i < 7; i++) all.push(Array.from((await it1.next()).value!.labels));
    await it1.return(undefined);
    // Batch 6 is the second of epoch 1 (5 batches per epoch); resuming at its start gives the same batches.
    const it2 = src.batches({ epoch: 1, index: 4 }, opts);
    const b = (await it2.next()).value!;
    expect(b.epoch).toBe(1);
    expect(b.next).toEqual({ epoch: 1, index: 8 });
    expect(Array.from(b.labels)).toEqual(all[6]);
    await it2.return(undefined);
    const stats = await src.stats();
    expect(stats.mean.length).toBe(8);
  });

  it('renders Fashion-MNIST as centred RGB images in [-1, 1]', async () => {
    const imgs = await FashionMnistImages.open(undefined, { limit: 8, size: 32 });
    const fixed = await imgs.fixedBatch(2);
    expect(fixed.length).toBe(2 * 32 * 32 * 3);
    expect(fixed[0]).toBe(-1);
    const it = imgs.batches({ epoch: 0, index: 0 }, { batchSize: 4, seed: 0 });
    const b = (await it.next()).value!;
    expect([b.count, b.size, b.images.length]).toEqual([4, 32, 4 * 32 * 32 * 3]);
    expect(Math.max(...b.images)).toBeLessThanOrEqual(1);
    await it.return(undefined);
  });
});
