/**
 * Test-only: the small SVG DiT of the fixtures (`dit.weights.safetensors`, spec §3) as a velocity function, so the
 * sampler and loss parity tests run the model the PyTorch fixtures used. Written from the spec in plain
 * JavaScript over Float32Arrays (float64 accumulation): the model is not under test here, and plain loops are
 * several times faster than tfjs' cpu backend, which keeps the parity suite short. Not part of the package
 * surface (the real model lives in @svg/dit); reads inputs with dataSync, so cpu backend only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type RawTensor, toFloat32 } from '@svg/weights';

export interface ReferenceDitConfig {
  hiddenSize: number;
  depth: number;
  numHeads: number;
}

/** Builds `(x [N,256,C], t [N], y [N] int32) => out [N,256,2C]` from a PyTorch state dict. */
export function referenceDit(weights: Map<string, RawTensor>, config: ReferenceDitConfig) {
  const params = new Map<string, Float32Array>();
  const w = (k: string): Float32Array => {
    let p = params.get(k);
    if (!p) {
      const t = weights.get(k);
      if (!t) throw new Error(`missing weight ${k}`);
      params.set(k, (p = toFloat32(t)));
    }
    return p;
  };
  const outDim = (name: string): number => weights.get(`${name}.weight`)!.shape[0];
  const { hiddenSize: H, depth, numHeads } = config;
  const hd = H / numHeads;

  /** `x [rows, in] · Wᵀ + b` with W `[out, in]`. */
  const linear = (x: Float32Array, rows: number, name: string): Float32Array => {
    const W = w(`${name}.weight`);
    const b = w(`${name}.bias`);
    const out = outDim(name);
    const K = x.length / rows;
    const y = new Float32Array(rows * out);
    for (let r = 0; r < rows; r++) {
      const xo = r * K;
      let o = 0;
      for (; o + 4 <= out; o += 4) {
        const w0 = o * K;
        const w1 = w0 + K;
        const w2 = w1 + K;
        const w3 = w2 + K;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = 0; k < K; k++) {
          const v = x[xo + k];
          s0 += v * W[w0 + k];
          s1 += v * W[w1 + k];
          s2 += v * W[w2 + k];
          s3 += v * W[w3 + k];
        }
        y[r * out + o] = s0 + b[o];
        y[r * out + o + 1] = s1 + b[o + 1];
        y[r * out + o + 2] = s2 + b[o + 2];
        y[r * out + o + 3] = s3 + b[o + 3];
      }
      for (; o < out; o++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[xo + k] * W[o * K + k];
        y[r * out + o] = s + b[o];
      }
    }
    return y;
  };
  /** Row-wise LayerNorm over the last `D` values, optional affine. */
  const layerNorm = (x: Float32Array, D: number, eps: number, gamma?: Float32Array, beta?: Float32Array): Float32Array => {
    const y = new Float32Array(x.length);
    for (let o = 0; o < x.length; o += D) {
      let mean = 0;
      for (let i = 0; i < D; i++) mean += x[o + i];
      mean /= D;
      let v = 0;
      for (let i = 0; i < D; i++) v += (x[o + i] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / D + eps);
      for (let i = 0; i < D; i++) {
        const n = (x[o + i] - mean) * inv;
        y[o + i] = gamma ? n * gamma[i] + beta![i] : n;
      }
    }
    return y;
  };
  const silu = (x: Float32Array): Float32Array => x.map((v) => v / (1 + Math.exp(-v)));
  const gelu = (x: Float32Array): Float32Array =>
    x.map((u) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u))));
  /** `LN(h)·(1 + scale) + shift` per sample, with chunks `shiftIdx`/`scaleIdx` of the modulation `mod [N, k·H]`. */
  const modulate = (h: Float32Array, N: number, T: number, mod: Float32Array, chunks: number, shiftIdx: number, scaleIdx: number): Float32Array => {
    const y = layerNorm(h, H, 1e-6);
    for (let n = 0; n < N; n++) {
      const base = n * chunks * H;
      for (let t = 0; t < T; t++) {
        const o = (n * T + t) * H;
        for (let d = 0; d < H; d++) y[o + d] = y[o + d] * (1 + mod[base + scaleIdx * H + d]) + mod[base + shiftIdx * H + d];
      }
    }
    return y;
  };
  /** `h += gate · x` per sample (gate = chunk `gateIdx` of `mod`). */
  const addGated = (h: Float32Array, x: Float32Array, N: number, T: number, mod: Float32Array, gateIdx: number): void => {
    for (let n = 0; n < N; n++) {
      const g = n * 6 * H + gateIdx * H;
      for (let t = 0; t < T; t++) {
        const o = (n * T + t) * H;
        for (let d = 0; d < H; d++) h[o + d] += mod[g + d] * x[o + d];
      }
    }
  };
  const attention = (x: Float32Array, N: number, T: number, b: number): Float32Array => {
    const qkv = linear(x, N * T, `blocks.${b}.attn.qkv`);
    const out = new Float32Array(N * T * H);
    const [qw, qb, kw, kb] = ['q_norm.weight', 'q_norm.bias', 'k_norm.weight', 'k_norm.bias'].map((k) => w(`blocks.${b}.attn.${k}`));
    const scores = new Float64Array(T);
    const acc = new Float64Array(hd);
    for (let n = 0; n < N; n++) {
      for (let head = 0; head < numHeads; head++) {
        const gather = (s: number) => {
          const a = new Float32Array(T * hd);
          for (let t = 0; t < T; t++) for (let d = 0; d < hd; d++) a[t * hd + d] = qkv[(n * T + t) * 3 * H + s * H + head * hd + d];
          return a;
        };
        const q = layerNorm(gather(0), hd, 1e-5, qw, qb);
        const k = layerNorm(gather(1), hd, 1e-5, kw, kb);
        const v = gather(2);
        for (let i = 0; i < T; i++) {
          let max = -Infinity;
          for (let j = 0; j < T; j++) {
            let s = 0;
            for (let d = 0; d < hd; d++) s += q[i * hd + d] * k[j * hd + d];
            scores[j] = s / Math.sqrt(hd);
            if (scores[j] > max) max = scores[j];
          }
          let sum = 0;
          for (let j = 0; j < T; j++) sum += scores[j] = Math.exp(scores[j] - max);
          acc.fill(0);
          for (let j = 0; j < T; j++) {
            const p = scores[j];
            for (let d = 0; d < hd; d++) acc[d] += p * v[j * hd + d];
          }
          const o = (n * T + i) * H + head * hd;
          for (let d = 0; d < hd; d++) out[o + d] = acc[d] / sum;
        }
      }
    }
    return linear(out, N * T, `blocks.${b}.attn.proj`);
  };

  const posEmbed = w('pos_embed');
  const table = w('y_embedder.embedding_table.weight');

  return (xt: tf.Tensor, tt: tf.Tensor, yt: tf.Tensor): tf.Tensor => {
    const [N, T] = xt.shape;
    const x = xt.dataSync() as Float32Array;
    const ts = tt.dataSync();
    const ys = yt.dataSync();
    const h = linear(x, N * T, 'ln1');
    for (let i = 0; i < h.length; i++) h[i] += posEmbed[i % (T * H)];
    // Timestep embedding [cos, sin] of t·freqs (float32 like torch), then the MLP; plus the label embedding.
    const emb = new Float32Array(N * 256);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < 128; k++) {
        const freq = Math.fround(Math.exp(Math.fround(Math.fround(-Math.log(10000) * k) / 128)));
        const arg = Math.fround(ts[n] * freq);
        emb[n * 256 + k] = Math.cos(arg);
        emb[n * 256 + 128 + k] = Math.sin(arg);
      }
    }
    const c = linear(silu(linear(emb, N, 't_embedder.mlp.0')), N, 't_embedder.mlp.2');
    for (let n = 0; n < N; n++) for (let d = 0; d < H; d++) c[n * H + d] += table[ys[n] * H + d];
    const sc = silu(c);
    for (let b = 0; b < depth; b++) {
      const mod = linear(sc, N, `blocks.${b}.adaLN_modulation.1`);
      addGated(h, attention(modulate(h, N, T, mod, 6, 0, 1), N, T, b), N, T, mod, 2);
      const m = linear(gelu(linear(modulate(h, N, T, mod, 6, 3, 4), N * T, `blocks.${b}.mlp.fc1`)), N * T, `blocks.${b}.mlp.fc2`);
      addGated(h, m, N, T, mod, 5);
    }
    const fmod = linear(sc, N, 'final_layer.adaLN_modulation.1');
    const out = linear(modulate(h, N, T, fmod, 2, 0, 1), N * T, 'final_layer.linear');
    return tf.tensor(out, [N, T, outDim('final_layer.linear')], 'float32');
  };
}
