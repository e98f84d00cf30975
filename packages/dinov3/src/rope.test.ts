import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, useBackend } from '../../../tools/testing/backends';
import { applyRope, ropePeriods, ropeTables, roundToBFloat16 } from './index';

// Spec §1.4: float32 periods for head dim 64, and the bf16-rounded values of released checkpoints.
const F32_64 = [1, 1.33352149, 1.77827942, 2.37137365, 3.1622777, 4.2169652, 5.62341309, 7.4989419, 10, 13.3352146, 17.782795, 23.7137375, 31.622776, 42.169651, 56.2341309, 74.989418];
const BF16_64 = [1, 1.3359375, 1.78125, 2.375, 3.15625, 4.21875, 5.625, 7.5, 10, 13.3125, 17.75, 23.75, 31.625, 42.25, 56.25, 75];
const BF16_128 = [
  1, 1.15625, 1.3359375, 1.5390625, 1.78125, 2.046875, 2.375, 2.734375, 3.15625, 3.65625, 4.21875, 4.875, 5.625, 6.5, 7.5, 8.6875, 10, 11.5625, 13.3125, 15.375, 17.75, 20.5,
  23.75, 27.375, 31.625, 36.5, 42.25, 48.75, 56.25, 65, 75, 86.5,
];

describe('RoPE', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('periods: float32 and bf16 values of the spec', () => {
    const f32 = ropePeriods(64, { base: 100 });
    F32_64.forEach((v, i) => expect(f32[i]).toBeCloseTo(v, 5));
    expect(Array.from(ropePeriods(64, { base: 100, dtype: 'bf16' }))).toEqual(BF16_64);
    expect(Array.from(ropePeriods(128, { base: 100, dtype: 'bf16' }))).toEqual(BF16_128);
    expect(roundToBFloat16(1.33352149)).toBe(1.3359375);
    const minmax = ropePeriods(16, { base: null, minPeriod: 0.5, maxPeriod: 8 });
    expect(Array.from(minmax).map((v) => +v.toFixed(5))).toEqual([0.5, 1.25992, 3.1748, 8]);
  });

  it('tables: prefix rows are identity; patch rows are [y | x | y | x] angles of the patch centres', () => {
    const periods = Float32Array.from(BF16_64);
    const h = 3;
    const w = 5;
    const { cos, sin } = ropeTables(h, w, periods, { prefix: 5 });
    expect(cos.length).toBe((5 + h * w) * 64);
    for (let i = 0; i < 5 * 64; i++) {
      expect(cos[i]).toBe(1);
      expect(sin[i]).toBe(0);
    }
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const row = (5 + r * w + c) * 64;
        const y = (2 * (r + 0.5)) / h - 1;
        const x = (2 * (c + 0.5)) / w - 1;
        for (let k = 0; k < 16; k++) {
          const ay = (2 * Math.PI * y) / periods[k];
          const ax = (2 * Math.PI * x) / periods[k];
          for (const off of [0, 32]) {
            expect(cos[row + off + k]).toBeCloseTo(Math.cos(ay), 6);
            expect(cos[row + off + 16 + k]).toBeCloseTo(Math.cos(ax), 6);
          }
          // signed sin: first half negated (rotate-half), second half plain
          expect(sin[row + k]).toBeCloseTo(-Math.sin(ay), 6);
          expect(sin[row + 16 + k]).toBeCloseTo(-Math.sin(ax), 6);
          expect(sin[row + 32 + k]).toBeCloseTo(Math.sin(ay), 6);
          expect(sin[row + 48 + k]).toBeCloseTo(Math.sin(ax), 6);
        }
      }
    }
  });

  it('16×16 grid coordinates are (2i+1)/16 − 1 (angle of period 1 = 2π·coord)', () => {
    const { cos } = ropeTables(16, 16, Float32Array.from([1, 2, 4, 8]));
    for (let i = 0; i < 16; i++) expect(cos[i * 16 * 16]).toBeCloseTo(Math.cos(2 * Math.PI * ((2 * i + 1) / 16 - 1)), 6);
  });

  it('applyRope = v ⊙ cos + rotate_half(v) ⊙ sin on patch tokens, identity on the prefix', async () => {
    const periods = Float32Array.from([1, 3, 9, 27]);
    const [h, w, prefix, heads, hd] = [2, 3, 2, 2, 16];
    const t = prefix + h * w;
    const v = Array.from({ length: heads * t * hd }, (_, i) => Math.sin(i * 0.37) * 2);
    const tables = ropeTables(h, w, periods, { prefix });
    const out = await read(applyRope(tf.tensor4d(v, [1, heads, t, hd]), tf.tensor2d(tables.cos, [t, hd]), tf.tensor2d(tables.sin, [t, hd])));
    const plain = ropeTables(h, w, periods); // without prefix rows; its second half holds plain sin(θ)
    for (let head = 0; head < heads; head++) {
      for (let n = 0; n < t; n++) {
        const base = (head * t + n) * hd;
        for (let j = 0; j < hd; j++) {
          let want = v[base + j];
          if (n >= prefix) {
            const row = (n - prefix) * hd;
            const c = plain.cos[row + j];
            const s = plain.sin[row + (j % (hd / 2)) + hd / 2]; // θ is tiled twice: θ_j = θ_(j mod hd/2)
            const rot = j < hd / 2 ? -v[base + j + hd / 2] : v[base + j - hd / 2];
            want = v[base + j] * c + rot * s;
          }
          expect(out[base + j]).toBeCloseTo(want, 5);
        }
      }
    }
  });
});
