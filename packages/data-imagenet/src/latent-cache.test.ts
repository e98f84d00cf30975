import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { centerCropArr } from './crop';
import { decodeImageFile } from './decode-node';
import { scanImageFolder } from './folder';
import { LatentCache, type LatentEncoder, writeLatentCache } from './latent-cache';
import { normalizeImage } from './normalize';
import { ChannelStatsAccumulator } from './stats';
import { writeStatsFile } from './stats-node';
import { buildWorkerScript, scratchDir, writeFashionMnistFolder } from './test-util';

const SIZE = 16;
const SHAPE = [3, 4, 4] as const; // a 4×4 average pool of the normalised image, per channel (NCHW)

/** A deterministic stand-in encoder; records the batch sizes it was called with. */
function poolEncoder(calls: number[]): LatentEncoder {
  return async (images, shape) => {
    const [n, c, h, w] = shape;
    calls.push(n);
    const out = new Float32Array(n * 3 * 16);
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            out[((i * 3 + ch) * 4 + (y >> 2)) * 4 + (x >> 2)] += images[((i * c + ch) * h + y) * w + x] / 16;
          }
    return out;
  };
}

let root: string;
let corrupt: string[];
let workerScript: string;
/** The cache the first test writes and the others read. */
let cacheDir: string;

beforeAll(async () => {
  ({ root, corrupt } = await writeFashionMnistFolder('fashion-latents', 5));
  workerScript = await buildWorkerScript();
  cacheDir = scratchDir('latents');
});

describe('latent cache', () => {
  it('writes sharded latents (+ mirrored), reads them back exactly, and resumes an interrupted run', async () => {
    const dataset = await scanImageFolder(root);
    const dir = cacheDir;
    const calls: number[] = [];
    const options = { dataset, dir, encode: poolEncoder(calls), latentShape: SHAPE, batchSize: 8, imageSize: SIZE, shardSize: 20, workerScript };
    const index = await writeLatentCache(options);
    expect(index.count).toBe(50);
    expect(index.shards.map((s) => s.count)).toEqual([18, 20, 12]); // 52 samples; shard 0 holds both corrupt files
    expect(index.skipped.map((s) => s.path).sort()).toEqual([...corrupt].sort());
    expect(calls.reduce((a, b) => a + b, 0)).toBe(100); // every image twice: as is and mirrored

    const cache = await LatentCache.open(dir);
    expect(cache.count).toBe(50);
    expect(cache.classes.map((c) => c.name)).toEqual(dataset.classes.map((c) => c.name));
    for (const p of [0, 7, 23, 49]) {
      const sample = dataset.samples[cache.indices[p]];
      expect(cache.labels[p]).toBe(sample.label);
      const crop = centerCropArr(await decodeImageFile(sample.path), SIZE);
      for (const flip of [false, true]) {
        const img = normalizeImage(crop, { normalization: 'imagenet', layout: 'nchw', flip });
        const want = await poolEncoder([])(img, [1, 3, SIZE, SIZE]);
        expect(await cache.read(p, flip)).toEqual(want);
      }
    }
    await cache.close();

    // interrupted: the last shard and the index are gone; only that shard is encoded again
    rmSync(join(dir, 'shard-00002.safetensors'));
    rmSync(join(dir, 'index.json'));
    calls.length = 0;
    const again = await writeLatentCache(options);
    expect(again).toEqual(index);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(2 * 12);
    await expect(writeLatentCache({ ...options, flips: false })).rejects.toThrow(/shard-00000.safetensors" was written with other settings/);
  });

  it('serves shuffled, sharded, resumable batches choosing mirrored latents at random', async () => {
    const cache = await LatentCache.open(cacheDir);
    const collect = async (o: Parameters<LatentCache['batches']>[0]) => {
      const out = [];
      for await (const b of cache.batches(o)) out.push(b);
      return out;
    };
    const all = await collect({ batchSize: 8, seed: 1, epochs: 2 });
    expect(all).toHaveLength(12); // 50 → 6 full batches per epoch
    expect(all[0].shape).toEqual([8, 3, 4, 4]);
    const flips = all.flatMap((b) => Array.from(b.flipped));
    expect(flips.filter((f) => f).length).toBeGreaterThan(20);
    expect(flips.filter((f) => !f).length).toBeGreaterThan(20);
    for (const b of all.slice(0, 2)) {
      for (let i = 0; i < 8; i++) {
        expect(b.labels[i]).toBe(cache.labels[b.positions[i]]);
        expect(b.latents.subarray(i * 48, (i + 1) * 48)).toEqual(await cache.read(b.positions[i], b.flipped[i] === 1));
      }
    }
    const resumed = await collect({ batchSize: 8, seed: 1, epochs: 2, from: all[3].next });
    expect(resumed.map((b) => b.positions)).toEqual(all.slice(4).map((b) => b.positions));
    expect(resumed.map((b) => b.latents)).toEqual(all.slice(4).map((b) => b.latents));
    const r0 = await collect({ batchSize: 5, seed: 1, epochs: 1, rank: 0, worldSize: 2, flipProbability: 0 });
    const r1 = await collect({ batchSize: 5, seed: 1, epochs: 1, rank: 1, worldSize: 2, flipProbability: 0 });
    const seen = [...r0, ...r1].flatMap((b) => Array.from(b.positions));
    expect(new Set(seen).size).toBe(50);
    expect([...r0, ...r1].every((b) => b.flipped.every((f) => f === 0))).toBe(true);
    await cache.close();
  });

  it('computes per-channel statistics like dinov3_sp_stats and writes them in its layout', async () => {
    const cache = await LatentCache.open(cacheDir, { maxOpenFiles: 1 });
    const stats = await cache.stats();
    // direct two-pass float64 computation over every latent's 16 positions
    const values: number[][] = [[], [], []];
    for (let p = 0; p < cache.count; p++) {
      const l = await cache.read(p);
      for (let c = 0; c < 3; c++) values[c].push(...l.subarray(c * 16, (c + 1) * 16));
    }
    expect(stats.count).toBe(50 * 16);
    for (let c = 0; c < 3; c++) {
      const m = values[c].reduce((a, b) => a + b, 0) / values[c].length;
      const v = values[c].reduce((a, b) => a + (b - m) ** 2, 0) / (values[c].length - 1);
      expect(stats.mean[c]).toBeCloseTo(m, 6);
      expect(stats.std[c]).toBeCloseTo(Math.sqrt(v), 6);
    }
    const both = await cache.stats({ includeFlipped: true, stdDecimals: 6 });
    expect(both.count).toBe(2 * 50 * 16);
    for (const s of both.std) expect(Math.fround(Math.round(s * 1e6) / 1e6)).toBe(s);
    const file = join(cacheDir, 'stats.safetensors');
    await writeStatsFile(file, stats);
    const { tensors } = readSafetensors(new Uint8Array(readFileSync(file)));
    expect([...tensors.keys()].sort()).toEqual(['dinov3_sp_mean', 'dinov3_sp_std']);
    expect(tensors.get('dinov3_sp_mean')!.shape).toEqual([1, 1, 3]);
    expect(tensors.get('dinov3_sp_std')!.data).toEqual(stats.std);
    await cache.close();
  });

  it('pools channels on any axis, merging batches exactly', () => {
    const acc = new ChannelStatsAccumulator([5, 2], 1); // token-major [tokens, channels]
    const data = Float32Array.from({ length: 30 }, (_, i) => (i % 2 ? 100 + i : -i));
    acc.add(data.subarray(0, 10), 1);
    acc.add(data.subarray(10), 2);
    const s = acc.result({ unbiased: false });
    const ch0 = Array.from(data).filter((_, i) => i % 2 === 0);
    const m0 = ch0.reduce((a, b) => a + b, 0) / 15;
    expect(s.mean[0]).toBeCloseTo(m0, 5);
    expect(s.std[0]).toBeCloseTo(Math.sqrt(ch0.reduce((a, b) => a + (b - m0) ** 2, 0) / 15), 5);
    expect(() => acc.add(new Float32Array(7), 1)).toThrow(/expected 1 × \[5, 2\]/);
  });

  it('rejects a wrong-sized encoder output and a missing cache', async () => {
    const dataset = await scanImageFolder(root);
    const bad: LatentEncoder = async () => new Float32Array(3);
    await expect(
      writeLatentCache({ dataset, dir: scratchDir('bad-latents'), encode: bad, latentShape: SHAPE, imageSize: SIZE, workers: 0 }),
    ).rejects.toThrow(/encoder returned 3 values for 32 images; expected 32 × \[3, 4, 4\]/);
    await expect(LatentCache.open(scratchDir('no-cache'))).rejects.toThrow(/no latent cache/);
  });
});
