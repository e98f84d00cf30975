import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@svg/nn';

/** Options of {@link PatchProjection}. */
export interface PatchProjectionOptions {
  /** Side of the (square, padded) image; must be 16·patch so there are 16×16 = 256 tokens. Default 32. */
  imageSize?: number;
  /** Output channels per token (≥ patch², so that decoding is exact). Default 8. */
  channels?: number;
  /** Seed of the projection matrix. Default 0. */
  seed?: number;
}

/**
 * The encoder of our small CPU configs: a fixed, seeded random linear map from each `p×p` patch of a greyscale image
 * to `channels` values, so a `16p × 16p` image becomes a `[256, channels]` token sequence, the DiT's input layout.
 * It stands in for the frozen DINOv3 encoder where that is too heavy (Fashion-MNIST on a laptop CPU): like SVG's
 * latents it is a frozen, redundant (channels > pixels per patch) per-patch feature, and it has an exact decoder
 * (the least-squares inverse) for sample grids. Images smaller than the side (28×28 Fashion-MNIST) are centred with
 * black padding. Pixel values map from [0, 255] to [-1, 1]; weights are N(0, 1/p²).
 */
export class PatchProjection {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly channels: number;
  /** `[p², channels]` row-major. */
  readonly weight: Float64Array;
  /** `[channels, p²]`: `weight⁺ = (WᵀW)⁻¹Wᵀ` transposed, so `pixels = tokens · inverse`. */
  readonly inverse: Float64Array;

  constructor(options: PatchProjectionOptions = {}) {
    this.imageSize = options.imageSize ?? 32;
    this.channels = options.channels ?? 8;
    if (this.imageSize % 16 !== 0) throw new Error(`patch projection: image size ${this.imageSize} is not a multiple of 16`);
    this.patchSize = this.imageSize / 16;
    const k = this.patchSize * this.patchSize;
    if (this.channels < k) throw new Error(`patch projection: ${this.channels} channels cannot represent ${k}-pixel patches (need ≥ ${k})`);
    const rng = new SeededRandom(options.seed ?? 0);
    this.weight = Float64Array.from({ length: k * this.channels }, () => rng.normal() / this.patchSize);
    this.inverse = pseudoInverse(this.weight, k, this.channels);
  }

  /** Number of scalars per encoded image (`256 · channels`). */
  get latentSize(): number {
    return 256 * this.channels;
  }

  /**
   * `count` greyscale images (`height × width` bytes each, at most `imageSize` per side) → tokens `[count, 256, C]`.
   */
  encode(pixels: Uint8Array, count: number, height: number, width: number): Float32Array {
    const { imageSize: s, patchSize: p, channels: c } = this;
    if (height > s || width > s) throw new Error(`patch projection: ${height}×${width} images do not fit ${s}×${s}`);
    if (pixels.length < count * height * width) throw new Error(`patch projection: ${pixels.length} bytes for ${count} images of ${height}×${width}`);
    const top = Math.floor((s - height) / 2);
    const left = Math.floor((s - width) / 2);
    const out = new Float32Array(count * 256 * c);
    const patch = new Float64Array(p * p);
    for (let n = 0; n < count; n++) {
      const img = n * height * width;
      for (let token = 0; token < 256; token++) {
        const r0 = Math.floor(token / 16) * p - top;
        const c0 = (token % 16) * p - left;
        for (let i = 0; i < p; i++) {
          for (let j = 0; j < p; j++) {
            const r = r0 + i;
            const col = c0 + j;
            const v = r >= 0 && r < height && col >= 0 && col < width ? pixels[img + r * width + col] : 0;
            patch[i * p + j] = v / 127.5 - 1;
          }
        }
        const o = (n * 256 + token) * c;
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let q = 0; q < p * p; q++) acc += patch[q] * this.weight[q * c + ch];
          out[o + ch] = acc;
        }
      }
    }
    return out;
  }

  /**
   * The decoder for sample grids (`LatentDecoder` of `@svg/generate`): latents NHWC `[B, 16, 16, C]` → images NHWC
   * `[B, imageSize, imageSize, 3]` (the grey value in all three channels), by the least-squares inverse.
   */
  decode(latent: tf.Tensor4D): tf.Tensor4D {
    const { imageSize: s, patchSize: p, channels: c } = this;
    const [b, h, w, ch] = latent.shape;
    if (h !== 16 || w !== 16 || ch !== c) throw new Error(`patch projection: latents must be [B, 16, 16, ${c}], got [${latent.shape}]`);
    return tf.tidy(() => {
      const inverse = tf.tensor2d(Float32Array.from(this.inverse), [c, p * p]);
      const patches = tf.reshape(tf.matMul(tf.reshape(latent, [b * 256, c]) as tf.Tensor2D, inverse), [b, 16, 16, p, p]);
      const grey = tf.reshape(tf.transpose(patches, [0, 1, 3, 2, 4]), [b, s, s, 1]);
      return tf.concat([grey, grey, grey], 3) as tf.Tensor4D;
    });
  }

  /** Tokens `[count, 256, C]` → greyscale images `[count, imageSize, imageSize]` in [-1, 1] (least squares, not clamped). */
  decodeTokens(tokens: Float32Array, count: number): Float32Array {
    const { imageSize: s, patchSize: p, channels: c } = this;
    if (tokens.length !== count * 256 * c) throw new Error(`patch projection: ${tokens.length} values for ${count} × [256, ${c}] tokens`);
    const out = new Float32Array(count * s * s);
    for (let n = 0; n < count; n++) {
      for (let token = 0; token < 256; token++) {
        const o = (n * 256 + token) * c;
        const r0 = Math.floor(token / 16) * p;
        const c0 = (token % 16) * p;
        for (let q = 0; q < p * p; q++) {
          let acc = 0;
          for (let ch = 0; ch < c; ch++) acc += tokens[o + ch] * this.inverse[ch * p * p + q];
          out[n * s * s + (r0 + Math.floor(q / p)) * s + c0 + (q % p)] = acc;
        }
      }
    }
    return out;
  }
}

/** `[k, c]` matrix W (full row rank) → `[c, k]` matrix X with `W·X = I`: `X = Wᵀ (W Wᵀ)⁻¹`. */
function pseudoInverse(w: Float64Array, k: number, c: number): Float64Array {
  const gram = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let t = 0; t < c; t++) gram[i * k + j] += w[i * c + t] * w[j * c + t];
  const inv = invert(gram, k);
  const out = new Float64Array(c * k);
  for (let t = 0; t < c; t++) for (let j = 0; j < k; j++) for (let i = 0; i < k; i++) out[t * k + j] += w[i * c + t] * inv[i * k + j];
  return out;
}

/** Gauss–Jordan inverse with partial pivoting of an `n×n` matrix. */
function invert(m: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(m);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]) > Math.abs(a[pivot * n + col])) pivot = r;
    if (Math.abs(a[pivot * n + col]) < 1e-12) throw new Error('patch projection: singular projection matrix');
    for (let j = 0; j < n; j++) {
      [a[col * n + j], a[pivot * n + j]] = [a[pivot * n + j], a[col * n + j]];
      [inv[col * n + j], inv[pivot * n + j]] = [inv[pivot * n + j], inv[col * n + j]];
    }
    const d = a[col * n + col];
    for (let j = 0; j < n; j++) {
      a[col * n + j] /= d;
      inv[col * n + j] /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r * n + col];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        a[r * n + j] -= f * a[col * n + j];
        inv[r * n + j] -= f * inv[col * n + j];
      }
    }
  }
  return inv;
}
