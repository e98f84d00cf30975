import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attention, attentionBackward, groupNorm, layerNorm, layerNormBackward, reduceSum, transpose, unary, unaryGrad } from './addon';
import { FusedKernel } from './fused';
import { blasKernelStats, registerBlasKernels, unregisterBlasKernels } from './register';
import { BACKENDS, blasVsStock, expectAddon, randomTensor, seeded, useBackend, values } from './test-util';

/** Row-major transpose in plain JavaScript, index by index. */
function naiveTranspose(x: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]!);
  const inStride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(x.length);
  for (let o = 0; o < out.length; o++) {
    let rest = o;
    let offset = 0;
    for (let i = outShape.length - 1; i >= 0; i--) {
      offset += (rest % outShape[i]!) * inStride[perm[i]!]!;
      rest = Math.floor(rest / outShape[i]!);
    }
    out[o] = x[offset]!;
  }
  return out;
}

const geluTanh64 = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const maxAbsDiff = (a: Float32Array, f: (i: number) => number) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - f(i))), 0);

describe('native transpose', () => {
  beforeAll(() => expectAddon());

  it.each([
    [[7], [0]],
    [[5, 3], [1, 0]],
    [[33, 47], [1, 0]],
    [[2, 17, 3, 4, 5], [2, 0, 3, 1, 4]], // attention's qkv split
    [[2, 4, 19, 6], [0, 2, 1, 3]], // heads back to tokens
    [[3, 1, 5, 1, 4], [4, 3, 2, 1, 0]], // size-1 axes
    [[1, 1, 1], [2, 0, 1]],
    [[2, 3, 4, 5, 6, 7], [5, 3, 1, 0, 2, 4]],
    [[4, 6, 8], [0, 1, 2]], // identity
    [[64, 40, 48], [2, 0, 1]], // large enough for several threads and partial tiles
  ])('shape %j, perm %j: every element where the definition puts it', (shape, perm) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = seeded(n, 7);
    const out = new Float32Array(n);
    transpose(x, out, shape, perm);
    expect(out).toEqual(naiveTranspose(x, shape, perm));
  });

  it('refuses bad permutations, short and overlapping buffers with a clear error', () => {
    const x = new Float32Array(24);
    expect(() => transpose(x, new Float32Array(24), [2, 3, 4], [0, 0, 1])).toThrow(/perm must be a permutation/);
    expect(() => transpose(x, new Float32Array(24), [2, 3, 4], [0, 1])).toThrow(/perm must be a permutation/);
    expect(() => transpose(x, new Float32Array(23), [2, 3, 4], [2, 1, 0])).toThrow(/out has 23 elements, the shapes need 24/);
    expect(() => transpose(x, x, [2, 3, 4], [2, 1, 0])).toThrow(/must not overlap/);
    expect(() => transpose(x, new Float32Array(24), [2, 3.5, 4], [2, 1, 0])).toThrow(/shape must be/);
  });
});

describe('native elementwise ops', () => {
  beforeAll(() => expectAddon());
  // Spans every branch: tiny (|x| < 4e-4), ordinary, and saturated (|x| > 9) values, large enough to use threads.
  const x = Float32Array.from(seeded(100_003, 3), (v, i) => v * (i % 3 === 0 ? 1e-3 : i % 3 === 1 ? 4 : 30));

  it('tanh is within 4e-7 of float64 tanh, odd, and exact at 0 and the saturation points', () => {
    const y = new Float32Array(x.length);
    unary('tanh', x, y);
    expect(maxAbsDiff(y, (i) => Math.tanh(x[i]!))).toBeLessThan(4e-7);
    const probe = Float32Array.of(0, -0.3, 0.3, 9, -9, 50, Infinity, -Infinity);
    const out = new Float32Array(probe.length);
    unary('tanh', probe, out);
    expect([out[0], out[1]! + out[2]!, out[5], out[6], out[7]]).toEqual([0, 0, 1, 1, -1]);
  });

  it('tanh-GELU is within 1e-6 (absolute) of float64 and works in place', () => {
    const y = Float32Array.from(x);
    unary('geluTanh', y, y);
    expect(maxAbsDiff(y, (i) => geluTanh64(x[i]!))).toBeLessThan(1e-6 * 30);
    const small = Float32Array.from(x.subarray(0, 1000), (v) => v / 4);
    const ys = new Float32Array(small.length);
    unary('geluTanh', small, ys);
    expect(maxAbsDiff(ys, (i) => geluTanh64(small[i]!))).toBeLessThan(1e-6);
  });

  it('sigmoid and SiLU are within 1e-6 (relative) of float64 over [-100, 100], saturating cleanly', () => {
    const wide = Float32Array.from(seeded(50_001, 17), (v) => 100 * v);
    for (const op of ['sigmoid', 'silu'] as const) {
      const y = new Float32Array(wide.length);
      unary(op, wide, y);
      let worst = 0;
      wide.forEach((v, i) => {
        const want = (op === 'silu' ? v : 1) / (1 + Math.exp(-v));
        worst = Math.max(worst, Math.abs(y[i]! - want) / Math.max(Math.abs(want), 1e-30));
      });
      expect(worst, op).toBeLessThan(1e-6);
    }
    const probe = Float32Array.of(0, 1000, -1000, Infinity, -Infinity);
    const out = new Float32Array(probe.length);
    unary('sigmoid', probe, out);
    expect(Array.from(out)).toEqual([0.5, 1, expect.closeTo(0, 30), 1, expect.closeTo(0, 30)]);
  });

  it('the tanh-GELU and SiLU gradients are dy times the float64 derivative', () => {
    const dy = seeded(x.length, 4);
    const derivative = {
      geluTanh: (v: number) => {
        const k = Math.sqrt(2 / Math.PI);
        const t = Math.tanh(k * (v + 0.044715 * v ** 3));
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v);
      },
      silu: (v: number) => {
        const s = 1 / (1 + Math.exp(-v));
        return s * (1 + v * (1 - s));
      },
    };
    for (const op of ['geluTanh', 'silu'] as const) {
      const out = new Float32Array(x.length);
      unaryGrad(op, x, dy, out);
      expect(maxAbsDiff(out, (i) => dy[i]! * derivative[op](x[i]!)), op).toBeLessThan(5e-6); // |x| up to 30 scales tanh's error
    }
    expect(() => unaryGrad('geluTanh', x, dy.subarray(1), new Float32Array(x.length))).toThrow(/dy has 100002 elements, the shapes need 100003/);
  });

  it('the layer-norm backward is the float64 gradient (dx, dgamma, dbeta), with and without gamma', () => {
    const rows = 300;
    const cols = 24;
    const xs = Float32Array.from(seeded(rows * cols, 61), (v, i) => 2 * v + (i % 5));
    const dy = seeded(rows * cols, 62);
    const gamma = Float32Array.from(seeded(cols, 63), (v) => 1 + v);
    for (const g of [null, gamma]) {
      const dx = new Float32Array(rows * cols);
      const dgamma = new Float32Array(cols);
      const dbeta = new Float32Array(cols);
      layerNormBackward(xs, dy, g, dx, dgamma, dbeta, rows, cols, 1e-6);
      const wantDg = new Float64Array(cols);
      const wantDb = new Float64Array(cols);
      let worst = 0;
      for (let r = 0; r < rows; r++) {
        const row = Array.from(xs.subarray(r * cols, (r + 1) * cols));
        const mean = row.reduce((a, v) => a + v, 0) / cols;
        const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / cols + 1e-6);
        const xhat = row.map((v) => (v - mean) * rstd);
        const gy = xhat.map((_, c) => dy[r * cols + c]! * (g ? g[c]! : 1));
        const ma = gy.reduce((a, v) => a + v, 0) / cols;
        const mb = gy.reduce((a, v, c) => a + v * xhat[c]!, 0) / cols;
        xhat.forEach((h, c) => {
          worst = Math.max(worst, Math.abs(dx[r * cols + c]! - rstd * (gy[c]! - ma - h * mb)));
          wantDg[c] += dy[r * cols + c]! * h;
          wantDb[c] += dy[r * cols + c]!;
        });
      }
      expect(worst).toBeLessThan(2e-5);
      expect(maxAbsDiff(dgamma, (c) => wantDg[c]!)).toBeLessThan(1e-4);
      expect(maxAbsDiff(dbeta, (c) => wantDb[c]!)).toBeLessThan(1e-4);
    }
  });

  it('layer norm matches float64 with and without gamma/beta, and NaN rows stay NaN', () => {
    const rows = 37;
    const cols = 1152;
    const xs = Float32Array.from(seeded(rows * cols, 5), (v, i) => 3 * v + (i % cols === 0 ? 100 : 1));
    const gamma = seeded(cols, 8);
    const beta = seeded(cols, 9);
    for (const [g, b] of [[null, null], [gamma, null], [null, beta], [gamma, beta]] as const) {
      const y = new Float32Array(xs.length);
      layerNorm(xs, y, rows, cols, 1e-6, g, b);
      let worst = 0;
      for (let r = 0; r < rows; r++) {
        const row = Array.from(xs.subarray(r * cols, (r + 1) * cols));
        const mean = row.reduce((a, v) => a + v, 0) / cols;
        const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / cols + 1e-6);
        row.forEach((v, c) => {
          const want = (v - mean) * rstd * (g ? g[c]! : 1) + (b ? b[c]! : 0);
          worst = Math.max(worst, Math.abs(y[r * cols + c]! - want));
        });
      }
      expect(worst).toBeLessThan(5e-6);
    }
    const bad = Float32Array.of(1, NaN, 3, 1, 2, 3);
    const out = new Float32Array(6);
    layerNorm(bad, out, 2, 3, 1e-5);
    expect(out.slice(0, 3).every(Number.isNaN)).toBe(true);
    expect(Number.isFinite(out[4]!)).toBe(true);
    expect(() => layerNorm(bad, out, 2, 3, 1e-5, new Float32Array(2))).toThrow(/gamma has 2 elements, the shapes need 3/);
  });
});

describe('native reduceSum', () => {
  beforeAll(() => expectAddon());

  /** float64 Σ_r x[o, r, i]. */
  function reference(x: Float32Array, outer: number, reduce: number, inner: number): Float64Array {
    const out = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) for (let r = 0; r < reduce; r++) for (let i = 0; i < inner; i++) out[o * inner + i] += x[(o * reduce + r) * inner + i]!;
    return out;
  }

  it.each([
    [1, 4096, 384], // a bias gradient: one long reduction, rows split over the threads
    [64, 300, 1], // row sums (layer-norm statistics)
    [1, 100_003, 1], // one long row
    [7, 5, 3],
    [300, 40, 24], // many blocks, each with columns
    [3, 0, 4], // nothing to sum: zeros
  ])('[outer %i, reduce %i, inner %i]: the float64 sum, scaled', (outer, reduce, inner) => {
    const x = Float32Array.from(seeded(outer * reduce * inner, 41), (v) => v + 0.25);
    const want = reference(x, outer, reduce, inner);
    const out = new Float32Array(outer * inner).fill(NaN);
    reduceSum(x, out, outer, reduce, inner, 0.5);
    expect(maxAbsDiff(out, (i) => 0.5 * want[i]!)).toBeLessThanOrEqual(Math.max(...Array.from(want, (w) => Math.abs(w))) * 6e-8);
  });

  it('keeps float64 accuracy where float32 accumulation drifts: 10⁶ × 0.1', () => {
    const out = new Float32Array(1);
    reduceSum(new Float32Array(1_000_000).fill(0.1), out, 1, 1_000_000, 1, 1);
    expect(Math.abs(out[0]! - 100_000 * Math.fround(0.1) * 10)).toBeLessThan(0.01);
  });

  it('refuses short and overlapping buffers', () => {
    const x = new Float32Array(12);
    expect(() => reduceSum(x, new Float32Array(3), 2, 3, 2, 1)).toThrow(/out has 3 elements, the shapes need 4/);
    expect(() => reduceSum(x, x, 2, 3, 2, 1)).toThrow(/must not overlap/);
  });
});

describe('native group norm', () => {
  beforeAll(() => expectAddon());

  /** float64 reference: x [b, s, c], groups of c/g consecutive channels. */
  function reference(x: Float32Array, b: number, s: number, c: number, g: number, eps: number, gamma?: Float32Array, beta?: Float32Array) {
    const y = new Float64Array(x.length);
    const cg = c / g;
    for (let n = 0; n < b; n++) {
      for (let k = 0; k < g; k++) {
        const idx: number[] = [];
        for (let p = 0; p < s; p++) for (let j = 0; j < cg; j++) idx.push(n * s * c + p * c + k * cg + j);
        const mean = idx.reduce((a, i) => a + x[i]!, 0) / idx.length;
        const rstd = 1 / Math.sqrt(idx.reduce((a, i) => a + (x[i]! - mean) ** 2, 0) / idx.length + eps);
        for (const i of idx) y[i] = (x[i]! - mean) * rstd * (gamma ? gamma[i % c]! : 1) + (beta ? beta[i % c]! : 0);
      }
    }
    return y;
  }

  it.each([
    [1, 4, 8, 2],
    [2, 1000, 64, 32], // threaded (≥ 32768 per image)
    [3, 7, 6, 3],
    [1, 5, 4, 1],
  ])('batch %i, %i positions, %i channels, %i groups: float64 result, offsets of 1e3 do not cancel', (b, s, c, g) => {
    const x = Float32Array.from(seeded(b * s * c, 21), (v, i) => 1000 + 2 * v + (i % c));
    const gamma = seeded(c, 22);
    const beta = seeded(c, 23);
    for (const [gm, bt] of [[undefined, undefined], [gamma, beta]] as const) {
      const y = new Float32Array(x.length);
      groupNorm(x, y, b, s, c, g, 1e-6, gm ?? null, bt ?? null);
      const want = reference(x, b, s, c, g, 1e-6, gm, bt);
      expect(maxAbsDiff(y, (i) => want[i]!)).toBeLessThan(2e-4); // inputs carry float32 rounding of ~6e-5 at 1000
      const withSilu = new Float32Array(x.length);
      groupNorm(x, withSilu, b, s, c, g, 1e-6, gm ?? null, bt ?? null, true);
      expect(maxAbsDiff(withSilu, (i) => want[i]! / (1 + Math.exp(-want[i]!)))).toBeLessThan(2e-4);
    }
  });

  it('refuses channels that do not split into the groups', () => {
    expect(() => groupNorm(new Float32Array(12), new Float32Array(12), 1, 2, 6, 4, 1e-5)).toThrow(/multiple of groups/);
  });
});

describe('native attention', () => {
  beforeAll(() => expectAddon());

  /** float64 softmax(scale·q·kᵀ)·v for one batch item. */
  function reference(q: Float32Array, k: Float32Array, v: Float32Array, tq: number, tk: number, d: number, dv: number, scale: number): Float64Array {
    const out = new Float64Array(tq * dv);
    for (let i = 0; i < tq; i++) {
      const s = Array.from({ length: tk }, (_, j) => scale * Array.from({ length: d }, (_, c) => q[i * d + c]! * k[j * d + c]!).reduce((a, b) => a + b, 0));
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < tk; j++) for (let c = 0; c < dv; c++) out[i * dv + c] += (e[j]! / sum) * v[j * dv + c]!;
    }
    return out;
  }

  it.each([
    [3, 5, 7, 4, 6, 0.5],
    [2, 33, 17, 8, 8, 1 / Math.sqrt(8)],
    [1, 1, 1, 1, 1, 1],
    [2, 9, 40, 3, 2, 20], // large logits: the max shift keeps exp finite
  ])('batch %i, %i queries, %i keys, d %i, dv %i, scale %d: float64 result', (batch, tq, tk, d, dv, scale) => {
    const q = seeded(batch * tq * d, 31);
    const k = seeded(batch * tk * d, 32);
    const v = seeded(batch * tk * dv, 33);
    const out = new Float32Array(batch * tq * dv);
    attention(q, k, v, out, batch, tq, tk, d, dv, scale);
    for (let b = 0; b < batch; b++) {
      const want = reference(q.subarray(b * tq * d), k.subarray(b * tk * d), v.subarray(b * tk * dv), tq, tk, d, dv, scale);
      expect(maxAbsDiff(out.subarray(b * tq * dv, (b + 1) * tq * dv), (i) => want[i]!)).toBeLessThan(2e-6);
    }
  });

  it.each([
    [2, 33, 17, 8, 6, 0.35],
    [3, 5, 7, 4, 6, 2],
    [1, 1, 1, 1, 1, 1],
  ])('backward, batch %i, %i queries, %i keys, d %i, dv %i, scale %d: the float64 gradients', (batch, tq, tk, d, dv, scale) => {
    const [q, k, v, dy] = [[tq, d, 51], [tk, d, 52], [tk, dv, 53], [tq, dv, 54]].map(([a, b, seed]) => seeded(batch * a! * b!, seed!));
    const [dq, dk, dvOut] = [q, k, v].map((t) => new Float32Array(t!.length).fill(NaN));
    attentionBackward(q!, k!, v!, dy!, dq!, dk!, dvOut!, batch, tq, tk, d, dv, scale);
    let worst = 0;
    for (let b = 0; b < batch; b++) {
      const at = (x: Float32Array, rows: number, cols: number) => (r: number, c: number) => x[(b * rows + r) * cols + c]!;
      const [Q, K, V, DY] = [at(q!, tq, d), at(k!, tk, d), at(v!, tk, dv), at(dy!, tq, dv)];
      const gq = new Float64Array(tq * d), gk = new Float64Array(tk * d), gv = new Float64Array(tk * dv);
      for (let i = 0; i < tq; i++) {
        const s = Array.from({ length: tk }, (_, j) => scale * Array.from({ length: d }, (_, c) => Q(i, c) * K(j, c)).reduce((a, x) => a + x, 0));
        const max = Math.max(...s);
        const e = s.map((x) => Math.exp(x - max));
        const sum = e.reduce((a, x) => a + x, 0);
        const p = e.map((x) => x / sum);
        const dp = p.map((_, j) => Array.from({ length: dv }, (_, c) => DY(i, c) * V(j, c)).reduce((a, x) => a + x, 0));
        const rowDot = dp.reduce((a, x, j) => a + x * p[j]!, 0);
        const ds = p.map((pj, j) => pj * (dp[j]! - rowDot));
        for (let j = 0; j < tk; j++) {
          for (let c = 0; c < d; c++) {
            gq[i * d + c] += scale * ds[j]! * K(j, c);
            gk[j * d + c] += scale * ds[j]! * Q(i, c);
          }
          for (let c = 0; c < dv; c++) gv[j * dv + c] += p[j]! * DY(i, c);
        }
      }
      for (const [got, want, n] of [[dq!, gq, tq * d], [dk!, gk, tk * d], [dvOut!, gv, tk * dv]] as const) {
        worst = Math.max(worst, maxAbsDiff(got.subarray(b * n, (b + 1) * n), (i) => want[i]!));
      }
    }
    expect(worst).toBeLessThan(5e-6);
  });

  it('refuses short and overlapping buffers', () => {
    const q = new Float32Array(8);
    expect(() => attention(q, q, q, new Float32Array(7), 1, 2, 2, 4, 4, 1)).toThrow(/out has 7 elements, the shapes need 8/);
    expect(() => attention(q, q, q, q, 1, 2, 2, 4, 4, 1)).toThrow(/must not overlap/);
  });
});

describe.each(BACKENDS)('native layout and elementwise kernels on %s', (backend) => {
  beforeAll(() => expectAddon());
  afterAll(() => unregisterBlasKernels());

  it('Transpose equals the stock kernel for attention-shaped and odd permutations', async () => {
    const err = await blasVsStock(
      backend,
      () => [tf.transpose(randomTensor([2, 9, 3, 4, 5], 1), [2, 0, 3, 1, 4]), tf.transpose(randomTensor([3, 1, 7, 2], 2), [3, 2, 1, 0]), tf.transpose(randomTensor([6, 10], 3))],
      { kernels: [tf.Transpose] },
    );
    expect(err).toBe(0);
  });

  it('Unpack equals the stock kernel on every axis (small blocks fall back)', async () => {
    const err = await blasVsStock(backend, () => [...tf.unstack(randomTensor([3, 4, 80], 4)), ...tf.unstack(randomTensor([3, 4, 80], 5), 1), ...tf.unstack(randomTensor([3, 4, 5], 6), 2)], {
      kernels: [tf.Unpack],
    });
    expect(err).toBe(0);
    expect(blasKernelStats()[tf.Unpack]!.lastFallbackReason).toMatch(/blocks of < 64/);
  });

  it('Tanh and Sigmoid agree with the stock kernels to float precision', async () => {
    const err = await blasVsStock(backend, () => [tf.tanh(tf.mul(randomTensor([5, 999], 7), 6)), tf.sigmoid(tf.mul(randomTensor([5, 999], 8), 20))], { kernels: [tf.Tanh, tf.Sigmoid] });
    expect(err).toBeLessThan(1e-6);
  });

  it('Sum and Mean equal the stock kernels over adjacent axes (keepDims too); other axes fall back', async () => {
    const err = await blasVsStock(
      backend,
      () => {
        const x = randomTensor([4, 50, 96], 9);
        return [tf.sum(x, [0, 1]), tf.sum(x, -1, true), tf.mean(x, 1), tf.mean(x, [1, 2], true), tf.sum(x), tf.mean(x, [2, 0])];
      },
      { kernels: [tf.Sum, tf.Mean] },
    );
    expect(err).toBeLessThan(2e-5); // the stock kernels accumulate in float32
    expect(blasKernelStats()[tf.Mean]!.lastFallbackReason).toMatch(/not adjacent/);
  });

  it('Sum of a million float32 values is accurate (stock wasm accumulates in float32)', async () => {
    await useBackend(backend);
    expect(registerBlasKernels(backend)).toBe(true);
    const [s] = await values(() => tf.sum(tf.fill([1000, 1000], 0.1)));
    expect(Math.abs(s![0]! - 1e6 * Math.fround(0.1))).toBeLessThan(0.01);
    unregisterBlasKernels(backend);
  });

  it('registers the fused kernels @svg/nn looks for, and keeps tensor counts flat', async () => {
    await useBackend(backend);
    expect(tf.getKernel(FusedKernel.geluTanh, backend)).toBeUndefined();
    expect(registerBlasKernels(backend)).toBe(true);
    const x = randomTensor([4, 300], 11);
    const [gelu] = await values(() => tf.engine().runKernel(FusedKernel.geluTanh, { x }) as tf.Tensor);
    const xs = await x.data();
    expect(maxAbsDiff(gelu!, (i) => geluTanh64(xs[i]!))).toBeLessThan(1e-6);
    const gamma = randomTensor([300], 12);
    const [ln] = await values(() => tf.engine().runKernel(FusedKernel.layerNorm, { x, gamma }, { epsilon: 1e-5 }) as tf.Tensor);
    const [ref] = await values(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma);
    });
    expect(maxAbsDiff(ln!, (i) => ref![i]!)).toBeLessThan(2e-6);
    expect(() => tf.engine().runKernel(FusedKernel.layerNorm, { x, gamma: randomTensor([3], 1) }, { epsilon: 1e-5 })).toThrow(/gamma of shape \[3\] for 300 channels/);
    const img = randomTensor([2, 5, 3, 8], 13);
    const [gn] = await values(() => tf.engine().runKernel(FusedKernel.groupNorm, { x: img }, { numGroups: 4, epsilon: 1e-5 }) as tf.Tensor);
    const [gnRef] = await values(() => {
      const g = tf.reshape(img, [2, 15, 4, 2]);
      const { mean, variance } = tf.moments(g, [1, 3], true);
      return tf.reshape(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, 1e-5))), img.shape);
    });
    expect(maxAbsDiff(gn!, (i) => gnRef![i]!)).toBeLessThan(2e-6);
    img.dispose();
    const [q, k, v] = [randomTensor([2, 3, 10, 8], 14), randomTensor([2, 3, 12, 8], 15), randomTensor([2, 3, 12, 5], 16)];
    const [att] = await values(() => tf.engine().runKernel(FusedKernel.attention, { q, k, v }, { scale: 0.3 }) as tf.Tensor);
    const [attRef] = await values(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 0.3)), v));
    expect(maxAbsDiff(att!, (i) => attRef![i]!)).toBeLessThan(2e-6);
    expect(() => tf.engine().runKernel(FusedKernel.attention, { q, k: v, v }, { scale: 1 })).toThrow(/do not match/);
    tf.dispose([x, gamma, q, k, v]);
    unregisterBlasKernels(backend);
    expect(tf.getKernel(FusedKernel.geluTanh, backend)).toBeUndefined();
  });
});
