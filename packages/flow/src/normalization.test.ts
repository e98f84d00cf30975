import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type { RawTensor } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFixture, loadSafetensorsFixture } from '../../../tools/testing/fixtures';
import { base64ToBytes, denormalizeLatent, latentStatsFromSafetensors, loadLatentStats, normalizeLatent } from './normalization';
import { STATS_SAFETENSORS_BASE64, STATS_SHA256 } from './stats-data';
import { useCpu } from './testing/setup';

beforeAll(useCpu);

describe('loadLatentStats', () => {
  it('ships the official statistics bit-exactly (dinov3_sp_stats fixture)', () => {
    const stats = loadLatentStats();
    const fx = loadFixture('dinov3_sp_stats');
    const file = loadSafetensorsFixture(fx.json.weights.file);
    for (const [name, key] of [['mean', 'dinov3_sp_mean'], ['std', 'dinov3_sp_std']] as const) {
      const got = stats[name];
      const want = file.get(key)!;
      expect(got.dtype).toBe('F32');
      expect(got.shape).toEqual([1, 1, 392]);
      expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
      const sum = Array.from(got.data as Float32Array).reduce((s, v) => s + v, 0);
      expect(sum).toBeCloseTo(fx.json.keys[key].sum, 4);
      expect(Array.from((got.data as Float32Array).slice(0, 4))).toEqual(fx.json.keys[key].first4);
    }
    // Spec §7 values.
    const mean = stats.mean.data as Float32Array;
    const std = stats.std.data as Float32Array;
    expect(mean[384]).toBeCloseTo(0.28268781, 7);
    expect(std[391]).toBeCloseTo(0.327767, 6);
    expect(std[234]).toBeCloseTo(0.162926, 6);
  });

  it('embeds exactly the converted file of the spec (SHA-256)', () => {
    const bytes = base64ToBytes(STATS_SAFETENSORS_BASE64);
    expect(bytes.length).toBe(3376);
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(sha).toBe(STATS_SHA256);
    expect(sha).toBe('e879c5b0073a8b65ccffbc58370ac1f7f2dad0a3bda21e68cb376f17cfc14343');
  });

  it('returns fresh copies', () => {
    const a = loadLatentStats();
    (a.mean.data as Float32Array)[0] = 123;
    expect((loadLatentStats().mean.data as Float32Array)[0]).not.toBe(123);
  });

  it('reads other statistics files and names missing keys', () => {
    const bytes = base64ToBytes(STATS_SAFETENSORS_BASE64);
    expect(() => latentStatsFromSafetensors(bytes, { mean: 'mu', std: 'dinov3_sp_std' })).toThrow(/need tensors mu and dinov3_sp_std; found .*dinov3_sp_mean/);
  });
});

describe('base64ToBytes', () => {
  it('decodes standard base64', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => (i * 37) & 255);
    for (const n of [0, 1, 2, 3, 4, 5, 256]) {
      const b64 = Buffer.from(bytes.subarray(0, n)).toString('base64');
      expect(Array.from(base64ToBytes(b64))).toEqual(Array.from(bytes.subarray(0, n)));
    }
    expect(() => base64ToBytes('ab$c')).toThrow(/invalid base64/);
  });
});

describe('normalizeLatent / denormalizeLatent', () => {
  const stats = loadLatentStats();
  const mean = stats.mean.data as Float32Array;
  const std = stats.std.data as Float32Array;

  it('computes (x − μ)/σ and x·σ + μ per channel of token latents [B, T, 392]', async () => {
    const x = tf.randomNormal([2, 3, 392], 0, 1, 'float32', 1);
    const xs = await x.data();
    const n = normalizeLatent(x, stats);
    const ns = await n.data();
    for (let i = 0; i < xs.length; i++) {
      const c = i % 392;
      expect(ns[i]).toBe(Math.fround(Math.fround(xs[i] - mean[c]) / std[c]));
    }
    const back = denormalizeLatent(n, stats);
    const bs = await back.data();
    for (let i = 0; i < xs.length; i++) expect(Math.abs(bs[i] - xs[i])).toBeLessThan(1e-6);
    tf.dispose([x, n, back]);
  });

  it('supports channel-first latents [B, 392, H, W]', async () => {
    const x = tf.randomNormal([1, 392, 2, 2], 0, 1, 'float32', 2);
    const xs = await x.data();
    const d = denormalizeLatent(x, stats, { channelAxis: 1 });
    const ds = await d.data();
    for (let i = 0; i < xs.length; i++) {
      const c = Math.floor(i / 4) % 392;
      expect(ds[i]).toBeCloseTo(xs[i] * std[c] + mean[c], 5);
    }
    tf.dispose([x, d]);
  });

  it('accepts user statistics of any channel count as RawTensor, tensor or numbers', async () => {
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const raw: RawTensor = { dtype: 'F64', shape: [3], data: new Float64Array([1, 2, 3]) };
    const want = [0, 0, 0, 1.5, 1.5, 1.5];
    for (const s of [
      { mean: raw, std: [2, 2, 2] },
      { mean: tf.tensor([1, 2, 3], [1, 1, 3]), std: new Float32Array([2, 2, 2]) },
    ]) {
      const n = normalizeLatent(x, s);
      expect(Array.from(await n.data())).toEqual(want);
      n.dispose();
    }
    tf.dispose([x]);
  });

  it('reports channel and shape mismatches clearly', () => {
    const x = tf.zeros([1, 4, 8]);
    expect(() => normalizeLatent(x, stats)).toThrow(
      'latent stats mean has 392 channels (shape [1, 1, 392]) but x has 8 on axis 2 (shape [1, 4, 8])',
    );
    expect(() => normalizeLatent(x, { mean: new Array(8).fill(0), std: tf.ones([2, 4]) })).toThrow(/std has shape \[2, 4\]: expected one channel axis/);
    expect(() => normalizeLatent(x, stats, { channelAxis: 3 })).toThrow(/channelAxis 3 is out of range/);
    x.dispose();
  });

  it('keeps tensor counts flat', () => {
    const x = tf.zeros([1, 2, 392]);
    const before = tf.memory().numTensors;
    const n = normalizeLatent(x, stats);
    const d = denormalizeLatent(n, stats);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([x, n, d]);
  });
});
