import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, testBackends, useBackend } from '../../../../tools/testing/backends';
import { SeededRandom } from '../random';
import { Attention, Conv2d, Embedding, GroupNorm, LayerNorm, Linear, Mlp, SwiGLU, gelu, geluTanh, silu, upsampleNearest2x } from '../index';

// Reference values come from plain float64 loops written from the PyTorch definitions.
const rng = new SeededRandom(7);
const randn = (n: number) => Array.from(rng.normalArray(n));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function refLinear(x: number[], w: number[], b: number[], n: number, inF: number, outF: number): number[] {
  // w in PyTorch layout [out, in]
  const y: number[] = [];
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outF; o++) {
      let s = b[o];
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
      y.push(s);
    }
  return y;
}

function refLayerNorm(x: number[], d: number, eps: number, w?: number[], b?: number[]): number[] {
  const y: number[] = [];
  for (let r = 0; r < x.length / d; r++) {
    const row = x.slice(r * d, (r + 1) * d);
    const mean = row.reduce((a, v) => a + v, 0) / d;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / d;
    row.forEach((v, i) => y.push(((v - mean) / Math.sqrt(variance + eps)) * (w ? w[i] : 1) + (b ? b[i] : 0)));
  }
  return y;
}

function loadInto(p: { set(t: tf.Tensor): void }, data: number[], shape: number[]) {
  p.set(tf.tensor(data, shape));
}

for (const backend of testBackends()) {
  describe(`layers on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    it('Linear matches x·Wᵀ + b with PyTorch-layout weights', async () => {
      const lin = new Linear(5, 3);
      const w = randn(15);
      const b = randn(3);
      lin.weight.set(tf.transpose(tf.tensor(w, [3, 5])));
      loadInto(lin.bias!, b, [3]);
      const x = randn(2 * 4 * 5);
      const y = lin.forward(tf.tensor(x, [2, 4, 5]));
      expect(y.shape).toEqual([2, 4, 3]);
      expect(maxDiff(await read(y), refLinear(x, w, b, 8, 5, 3))).toBeLessThan(1e-5);
      y.dispose();
      lin.dispose();
    });

    it('LayerNorm with and without affine', async () => {
      const x = randn(3 * 8).map((v) => v * 3 + 1);
      const ln = new LayerNorm(8, { eps: 1e-6 });
      const w = randn(8);
      const b = randn(8);
      loadInto(ln.weight!, w, [8]);
      loadInto(ln.bias!, b, [8]);
      const y = ln.forward(tf.tensor(x, [3, 8]));
      expect(maxDiff(await read(y), refLayerNorm(x, 8, 1e-6, w, b))).toBeLessThan(1e-5);
      const plain = new LayerNorm(8, { affine: false });
      expect(plain.namedParameters()).toHaveLength(0);
      const z = plain.forward(tf.tensor(x, [3, 8]));
      expect(maxDiff(await read(z), refLayerNorm(x, 8, 1e-5))).toBeLessThan(1e-5);
      tf.dispose([y, z]);
      ln.dispose();
    });

    it('GroupNorm normalises each group over space and its channels', async () => {
      const [B, H, W, C, G] = [2, 3, 2, 8, 4];
      const x = randn(B * H * W * C);
      const gn = new GroupNorm(G, C, { eps: 1e-6 });
      const w = randn(C);
      const b = randn(C);
      loadInto(gn.weight!, w, [C]);
      loadInto(gn.bias!, b, [C]);
      const y = await read(gn.forward(tf.tensor(x, [B, H, W, C])));
      const ref = new Array(x.length).fill(0);
      const cg = C / G;
      for (let n = 0; n < B; n++)
        for (let g = 0; g < G; g++) {
          const idx: number[] = [];
          for (let p = 0; p < H * W; p++) for (let c = g * cg; c < (g + 1) * cg; c++) idx.push((n * H * W + p) * C + c);
          const mean = idx.reduce((a, i) => a + x[i], 0) / idx.length;
          const v = idx.reduce((a, i) => a + (x[i] - mean) ** 2, 0) / idx.length;
          for (const i of idx) ref[i] = ((x[i] - mean) / Math.sqrt(v + 1e-6)) * w[i % C] + b[i % C];
        }
      expect(maxDiff(y, ref)).toBeLessThan(1e-5);
      gn.dispose();
    });

    it('Conv2d matches a direct convolution (padding 1, stride 2, PyTorch [out,in,kh,kw] weights)', async () => {
      const [B, H, W, Ci, Co, K, S, P] = [1, 5, 6, 3, 4, 3, 2, 1];
      const conv = new Conv2d(Ci, Co, K, { stride: S, padding: P });
      const w = randn(Co * Ci * K * K);
      const b = randn(Co);
      conv.weight.set(tf.transpose(tf.tensor(w, [Co, Ci, K, K]), [2, 3, 1, 0]));
      loadInto(conv.bias!, b, [Co]);
      const x = randn(B * H * W * Ci);
      const y = conv.forward(tf.tensor(x, [B, H, W, Ci]) as tf.Tensor4D);
      const Ho = Math.floor((H + 2 * P - K) / S) + 1;
      const Wo = Math.floor((W + 2 * P - K) / S) + 1;
      expect(y.shape).toEqual([B, Ho, Wo, Co]);
      const ref: number[] = [];
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++)
          for (let o = 0; o < Co; o++) {
            let s = b[o];
            for (let c = 0; c < Ci; c++)
              for (let u = 0; u < K; u++)
                for (let v = 0; v < K; v++) {
                  const yi = i * S + u - P;
                  const xj = j * S + v - P;
                  if (yi < 0 || yi >= H || xj < 0 || xj >= W) continue;
                  s += x[(yi * W + xj) * Ci + c] * w[((o * Ci + c) * K + u) * K + v];
                }
            ref.push(s);
          }
      expect(maxDiff(await read(y), ref)).toBeLessThan(1e-5);
      y.dispose();
      conv.dispose();
    });

    it('Embedding looks rows up', async () => {
      const emb = new Embedding(5, 3);
      const table = randn(15);
      loadInto(emb.weight, table, [5, 3]);
      const y = await read(emb.forward(tf.tensor([4, 0, 2], [3], 'int32')));
      expect(maxDiff(y, [...table.slice(12, 15), ...table.slice(0, 3), ...table.slice(6, 9)])).toBeLessThan(1e-6);
      emb.dispose();
    });

    it('activations follow their formulas', async () => {
      const x = [-4, -1.5, -0.3, 0, 0.2, 1, 3.7];
      const erf = (v: number) => {
        // Abramowitz–Stegun 7.1.26 is too coarse; integrate the series instead (|v| ≤ 4 converges fast).
        let sum = 0;
        let term = v;
        for (let n = 0; n < 200; n++) {
          sum += term / (2 * n + 1);
          term *= (-v * v) / (n + 1);
        }
        return (2 / Math.sqrt(Math.PI)) * sum;
      };
      const t = tf.tensor(x);
      expect(maxDiff(await read(gelu(t)), x.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))))).toBeLessThan(2e-5);
      const tanhRef = x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
      expect(maxDiff(await read(geluTanh(t)), tanhRef)).toBeLessThan(2e-5);
      expect(maxDiff(await read(silu(t)), x.map((v) => v / (1 + Math.exp(-v))))).toBeLessThan(2e-5);
    });

    it('Attention with qk-norm equals the per-head reference', async () => {
      const [B, T, D, Hh] = [2, 3, 8, 2];
      const attn = new Attention(D, Hh, { qkNorm: true });
      const wqkv = randn(3 * D * D);
      const bqkv = randn(3 * D);
      const wp = randn(D * D);
      const bp = randn(D);
      attn.qkv.weight.set(tf.transpose(tf.tensor(wqkv, [3 * D, D])));
      loadInto(attn.qkv.bias!, bqkv, [3 * D]);
      attn.proj.weight.set(tf.transpose(tf.tensor(wp, [D, D])));
      loadInto(attn.proj.bias!, bp, [D]);
      const hd = D / Hh;
      const qw = randn(hd);
      const qb = randn(hd);
      loadInto(attn.qNorm!.weight!, qw, [hd]);
      loadInto(attn.qNorm!.bias!, qb, [hd]);
      const x = randn(B * T * D);
      const y = await read(attn.forward(tf.tensor(x, [B, T, D]) as tf.Tensor3D));
      // reference
      const ref: number[] = [];
      for (let n = 0; n < B; n++) {
        const rows = x.slice(n * T * D, (n + 1) * T * D);
        const qkv = refLinear(rows, wqkv, bqkv, T, D, 3 * D);
        const merged = new Array(T * D).fill(0);
        for (let h = 0; h < Hh; h++) {
          const get = (s: number, t: number) => qkv.slice(t * 3 * D + s * D + h * hd, t * 3 * D + s * D + (h + 1) * hd);
          const q = Array.from({ length: T }, (_, t) => refLayerNorm(get(0, t), hd, 1e-5, qw, qb));
          const k = Array.from({ length: T }, (_, t) => refLayerNorm(get(1, t), hd, 1e-5, [1, 1, 1, 1], [0, 0, 0, 0]));
          const v = Array.from({ length: T }, (_, t) => get(2, t));
          for (let i = 0; i < T; i++) {
            const s = k.map((kj) => kj.reduce((a, kv, c) => a + kv * q[i][c], 0) / Math.sqrt(hd));
            const m = Math.max(...s);
            const e = s.map((v2) => Math.exp(v2 - m));
            const z = e.reduce((a, b2) => a + b2, 0);
            for (let c = 0; c < hd; c++) merged[i * D + h * hd + c] = e.reduce((a, ej, j) => a + (ej / z) * v[j][c], 0);
          }
        }
        ref.push(...refLinear(merged, wp, bp, T, D, D));
      }
      expect(maxDiff(y, ref)).toBeLessThan(1e-4);
      attn.dispose();
    });

    it('Mlp and SwiGLU carry PyTorch names', () => {
      expect(new Mlp(4, 8).namedParameters().map(([n]) => n)).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
      expect(new SwiGLU(4, 8).namedParameters().map(([n]) => n)).toEqual(['w1.weight', 'w1.bias', 'w2.weight', 'w2.bias', 'w3.weight', 'w3.bias']);
    });

    it('nearest 2× upsample repeats every pixel, and its gradient sums 2×2 blocks (batch 2)', async () => {
      const x = tf.tensor(randn(2 * 2 * 3 * 2), [2, 2, 3, 2]) as tf.Tensor4D;
      const xs = await read(x);
      const y = await read(upsampleNearest2x(x));
      const ref: number[] = [];
      for (let n = 0; n < 2; n++)
        for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) for (let c = 0; c < 2; c++) ref.push(xs[((n * 2 + (i >> 1)) * 3 + (j >> 1)) * 2 + c]);
      expect(maxDiff(y, ref)).toBe(0);
      const dy = tf.tensor(randn(2 * 4 * 6 * 2), [2, 4, 6, 2]);
      const dys = await read(dy);
      const g = await read(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsampleNearest2x(t as tf.Tensor4D), dy)))(x));
      const gref: number[] = [];
      for (let n = 0; n < 2; n++)
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 3; j++)
            for (let c = 0; c < 2; c++) {
              let s = 0;
              for (let u = 0; u < 2; u++) for (let v = 0; v < 2; v++) s += dys[((n * 4 + 2 * i + u) * 6 + 2 * j + v) * 2 + c];
              gref.push(s);
            }
      expect(maxDiff(g, gref)).toBeLessThan(1e-5);
    });

    it('gradients flow through LayerNorm (finite differences)', async () => {
      const ln = new LayerNorm(4);
      const x0 = [0.3, -1.2, 2.0, 0.7];
      const w = [0.5, -1, 2, 0.1];
      const f = (t: tf.Tensor) => tf.sum(tf.mul(ln.forward(t), tf.tensor(w)));
      const g = await read(tf.grad(f)(tf.tensor(x0)));
      const h = 1e-3;
      const fd = await Promise.all(
        x0.map(async (_, i) => {
          const up = x0.slice();
          const dn = x0.slice();
          up[i] += h;
          dn[i] -= h;
          const [a, b] = [await read(f(tf.tensor(up))), await read(f(tf.tensor(dn)))];
          return (a[0] - b[0]) / (2 * h);
        }),
      );
      expect(maxDiff(g, fd)).toBeLessThan(5e-3);
      ln.dispose();
    });

    it('layers leave no tensors behind', () => {
      const lin = new Linear(4, 4);
      const x = tf.zeros([2, 4]);
      lin.forward(x).dispose();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) lin.forward(x).dispose();
      expect(tf.memory().numTensors).toBe(before);
      lin.dispose();
      x.dispose();
    });
  });
}
