import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { NpzFileWriter } from '@svg/weights/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../tools/testing/backends';
import { ConvClassifier } from './conv-classifier';
import { classifierExtractor, evaluateActivations } from './evaluate';
import { activationsCachePath, npzActivations } from './node';

let root: string;
const net = new ConvClassifier({ channels: [4, 8], hidden: 16, numClasses: 5 });
const extractor = classifierExtractor(net, 'test-net');

/** `count` 32×32 RGB images: a bright square whose position and size depend on `i` and `shift`. */
function images(count: number, shift: number): Uint8Array {
  const out = new Uint8Array(count * 32 * 32 * 3);
  for (let i = 0; i < count; i++) {
    const x0 = (i * 7 + shift) % 20;
    const s = 4 + ((i * 3 + shift) % 9);
    for (let y = x0; y < x0 + s; y++) for (let x = 4; x < 4 + s + (i % 5); x++) out.fill(200 + (i % 50), ((i * 32 + y) * 32 + x) * 3, ((i * 32 + y) * 32 + x + 1) * 3);
  }
  return out;
}

async function writeBatch(path: string, pixels: Uint8Array, extra: Record<string, Float64Array> = {}): Promise<void> {
  const n = pixels.length / (32 * 32 * 3);
  const dims = Object.entries(extra).map(([name, data]) => ({ name, dtype: 'F64' as const, shape: name.startsWith('sigma') ? [Math.sqrt(data.length), Math.sqrt(data.length)] : [data.length] }));
  const w = await NpzFileWriter.create(path, [{ name: 'arr_0', dtype: 'U8', shape: [n, 32, 32, 3] }, ...dims]);
  await w.writeRows('arr_0', 0, pixels);
  for (const [name, data] of Object.entries(extra)) await w.writeRows(name, 0, data);
  await w.finish();
}

beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'svg-eval-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('npz activations and the ADM table', () => {
  it('streams an npz in batches (same activations as one batch), caches them, and invalidates the cache when the file changes', async () => {
    const path = join(root, 'a.npz');
    await writeBatch(path, images(37, 0));
    const whole = await npzActivations(path, extractor, { batchSize: 37, cache: false });
    const seen: number[] = [];
    const streamed = await npzActivations(path, extractor, { batchSize: 8, onProgress: (done) => seen.push(done) });
    expect(seen).toEqual([8, 16, 24, 32, 37]);
    expect(streamed.cached).toBe(false);
    expect(streamed.activations.count).toBe(37);
    for (let i = 0; i < whole.activations.pool.length; i++) expect(streamed.activations.pool[i]).toBeCloseTo(whole.activations.pool[i], 5);
    const again = await npzActivations(path, extractor);
    expect(again.cached).toBe(true);
    expect(again.activations.pool).toEqual(streamed.activations.pool);
    expect(again.activations.logits).toEqual(streamed.activations.logits);
    await utimes(path, new Date(), new Date(Date.now() + 5000));
    expect((await npzActivations(path, extractor)).cached).toBe(false);
    expect(activationsCachePath(path, extractor)).toBe(`${path}.test-net.activations.safetensors`);
  });

  it('scores a batch against itself as identical and against another as different; uses stored statistics', async () => {
    const a = join(root, 'ref.npz');
    const b = join(root, 'other.npz');
    await writeBatch(a, images(40, 0));
    await writeBatch(b, images(40, 11));
    const ref = (await npzActivations(a, extractor)).activations;
    const other = (await npzActivations(b, extractor)).activations;
    const self = await evaluateActivations(ref, ref);
    expect(self.fid).toBeLessThan(1e-6);
    expect([self.precision, self.recall, self.sfid]).toEqual([1, 1, null]);
    expect(self.inceptionScore).toBeGreaterThanOrEqual(1);
    const diff = await evaluateActivations(ref, other);
    expect(diff.fid).toBeGreaterThan(1e4 * Math.max(self.fid, 1e-10)); // other images, measurably further (the random net's features are small)
    // Stored statistics replace the reference images' own for FID (as ADM's read_statistics).
    const stored = join(root, 'stored.npz');
    await writeBatch(stored, images(40, 0), { mu: new Float64Array(16).fill(5), sigma: Float64Array.from({ length: 256 }, (_, i) => (i % 17 === 0 ? 1 : 0)) });
    const withStats = await npzActivations(stored, extractor);
    expect(withStats.storedStats.pool?.dim).toBe(16);
    const vsStored = await evaluateActivations(withStats.activations, ref, { referenceStats: withStats.storedStats });
    expect(vsStored.fid).toBeGreaterThan(self.fid + 1);
    expect(vsStored.precision).toBe(1); // precision/recall always use the images
  });

  it('names the file and the problem for batches without images, malformed statistics and mismatched extractors', async () => {
    const noImages = join(root, 'stats.npz');
    const w = await NpzFileWriter.create(noImages, [{ name: 'mu', dtype: 'F64', shape: [2] }]);
    await w.writeRows('mu', 0, new Float64Array(2));
    await w.finish();
    await expect(npzActivations(noImages, extractor)).rejects.toThrow(`${noImages}: no image array arr_0 (arrays: mu)`);
    const grey = join(root, 'grey.npz');
    const g = await NpzFileWriter.create(grey, [{ name: 'arr_0', dtype: 'U8', shape: [2, 32, 32] }]);
    await g.writeRows('arr_0', 0, new Uint8Array(2 * 32 * 32));
    await g.finish();
    await expect(npzActivations(grey, extractor)).rejects.toThrow(/arr_0 must be uint8 images \[N, H, W, 3\], got \|u1 \[2, 32, 32\]/);
    const halfStats = join(root, 'half.npz');
    await writeBatch(halfStats, images(3, 0), { mu: new Float64Array(16) });
    await expect(npzActivations(halfStats, extractor)).rejects.toThrow(/has mu but not sigma/);
    await writeFile(join(root, 'x.npz'), 'not a zip');
    await expect(npzActivations(join(root, 'x.npz'), extractor)).rejects.toThrow(/x\.npz: /);
    const wide = classifierExtractor(new ConvClassifier({ channels: [4], hidden: 12, numClasses: 5 }), 'wide');
    const a = (await npzActivations(join(root, 'ref.npz'), extractor)).activations;
    const b = (await npzActivations(join(root, 'ref.npz'), wide)).activations;
    await expect(evaluateActivations(a, b)).rejects.toThrow('feature dimensions differ: reference 16, samples 12');
  });

  it('keeps the tensor count flat', async () => {
    const before = tf.memory().numTensors;
    await npzActivations(join(root, 'ref.npz'), extractor, { cache: false, batchSize: 7 });
    expect(tf.memory().numTensors).toBe(before);
  });
});
