/**
 * FLOP counters for tools/bench/run.mjs, from shapes only: 2 FLOPs per multiply-add of every matrix product and
 * convolution. Element-wise work (norms, softmax, activations, residual adds, RoPE, guidance) is not counted.
 *
 *   ditFlops('S', batch)                      @svg/dit's forwardFlops (one forward)
 *   dinov3Flops('vits16plus', batch, 256)     DINOv3 forwardFeatures at size×size
 *   decoderFlops(ddconfig, batch, 16)         the LDM decoder from a latent side (16 → 256²)
 *   inceptionFlops(batch)                     pytorch-fid's FID Inception v3 at 299² to pool3 (its convs)
 *   kernelFlops(profile.kernels)              the same rule applied to the kernels tf.profile saw run (a cross-check)
 */
import { forwardFlops } from '@svg/dit';
import { ffnHiddenDim, resolveConfig as resolveDinov3 } from '@svg/dinov3';

/** One DiT forward of `batch` samples × `tokens` tokens. */
export function ditFlops(preset, batch, tokens = 256) {
  return forwardFlops(preset, batch, tokens);
}

/**
 * DINOv3 `forwardFeatures` on `batch` images of `size`²: patch embedding (a stride-p conv = one matmul per patch),
 * then per block qkv, attention scores and mixing over all tokens (patches + cls + storage tokens), the output
 * projection and the FFN (SwiGLU: three matrices, MLP: two).
 */
export function dinov3Flops(preset, batch, size) {
  const c = resolveDinov3(preset);
  const D = c.embedDim;
  const patches = Math.floor(size / c.patchSize) ** 2;
  const T = patches + 1 + c.nStorageTokens;
  const H = ffnHiddenDim(c);
  const ffn = (c.ffnLayer === 'mlp' ? 2 : 3) * D * H;
  const patchEmbed = patches * c.inChans * c.patchSize ** 2 * D;
  const block = T * (3 * D * D + D * D + ffn) + 2 * T * T * D;
  return 2 * batch * (patchEmbed + c.depth * block);
}

/**
 * LDM decoder (`ddconfig`) from a latent `[batch, side, side, z_channels]`: 2·H·W·Cin·Cout·k² per conv at its output
 * resolution, and per attention block four 1×1 convs plus scores and mixing (2·N²·C each, N = H·W), walking the same
 * structure as @svg/autoencoder's LdmDecoder (conv_in, mid: ResNet/attention/ResNet, levels from the lowest
 * resolution up, each with num_res_blocks + 1 ResNet blocks, attention where the side is in attn_resolutions, and a
 * 3×3 conv after each 2× upsample; norm_out, conv_out).
 */
export function decoderFlops(dd, batch, side) {
  const conv = (hw, cin, cout, k) => 2 * hw * cin * cout * k * k;
  const resnet = (hw, cin, cout) => conv(hw, cin, cout, 3) + conv(hw, cout, cout, 3) + (cin !== cout ? conv(hw, cin, cout, 1) : 0);
  const attn = (hw, c) => 4 * conv(hw, c, c, 1) + 2 * (2 * hw * hw * c);
  const levels = dd.ch_mult.length;
  let c = dd.ch * dd.ch_mult[levels - 1];
  let s = side;
  // attn_resolutions are feature-map sides of the full-size config; scale them if the latent is not the designed one
  const designed = dd.resolution / 2 ** (levels - 1);
  const attnAt = (sideNow) => dd.attn_resolutions.includes((sideNow * designed) / side);
  let total = conv(s * s, dd.z_channels, c, 3) + resnet(s * s, c, c) + attn(s * s, c) + resnet(s * s, c, c);
  for (let level = levels - 1; level >= 0; level--) {
    const out = dd.ch * dd.ch_mult[level];
    for (let i = 0; i <= dd.num_res_blocks; i++) {
      total += resnet(s * s, c, out);
      c = out;
      if (attnAt(s)) total += attn(s * s, c);
    }
    if (level !== 0) {
      s *= 2;
      total += conv(s * s, c, c, 3);
    }
  }
  total += conv(s * s, c, dd.out_ch, 3);
  return batch * total;
}

/**
 * pytorch-fid's FID Inception v3 on `batch` images of `size`² (299) up to pool3: 2·Hout·Wout·Cin·Cout·kh·kw per
 * `BasicConv2d` (the layer table of torchvision's Inception3: stem, Mixed_5b..7c; pools and the unused fc are not
 * counted). 11.42 GFLOP per 299² image = 5.71 G multiply-adds (the "5.7 GFLOPs" usually quoted for Inception v3).
 */
export function inceptionFlops(batch, size = 299) {
  let total = 0;
  // one conv on an h×w input: returns its output side(s)
  const conv = ([h, w], cin, cout, k, s = 1, p = 0) => {
    const [kh, kw] = typeof k === 'number' ? [k, k] : k;
    const [ph, pw] = typeof p === 'number' ? [p, p] : p;
    const ho = Math.floor((h + 2 * ph - kh) / s) + 1;
    const wo = Math.floor((w + 2 * pw - kw) / s) + 1;
    total += 2 * ho * wo * cin * cout * kh * kw;
    return [ho, wo];
  };
  const pool = ([h, w]) => [Math.floor((h - 3) / 2) + 1, Math.floor((w - 3) / 2) + 1]; // max pool 3, stride 2
  let x = [size, size];
  x = conv(conv(conv(x, 3, 32, 3, 2), 32, 32, 3), 32, 64, 3, 1, 1);
  x = pool(x);
  x = pool(conv(conv(x, 64, 80, 1), 80, 192, 3));
  const blockA = (c, poolFeatures) => {
    conv(x, c, 64, 1);
    conv(conv(x, c, 48, 1), 48, 64, 5, 1, 2);
    conv(conv(conv(x, c, 64, 1), 64, 96, 3, 1, 1), 96, 96, 3, 1, 1);
    conv(x, c, poolFeatures, 1);
  };
  blockA(192, 32);
  blockA(256, 64);
  blockA(288, 64);
  const b6a = conv(x, 288, 384, 3, 2); // Mixed_6a (B)
  conv(conv(conv(x, 288, 64, 1), 64, 96, 3, 1, 1), 96, 96, 3, 2);
  x = b6a;
  for (const c7 of [128, 160, 160, 192]) {
    // Mixed_6b..6e (C), 768 channels in and out
    conv(x, 768, 192, 1);
    conv(conv(conv(x, 768, c7, 1), c7, c7, [1, 7], 1, [0, 3]), c7, 192, [7, 1], 1, [3, 0]);
    let d = conv(x, 768, c7, 1);
    d = conv(conv(d, c7, c7, [7, 1], 1, [3, 0]), c7, c7, [1, 7], 1, [0, 3]);
    conv(conv(d, c7, c7, [7, 1], 1, [3, 0]), c7, 192, [1, 7], 1, [0, 3]);
    conv(x, 768, 192, 1);
  }
  const b7a = conv(conv(x, 768, 192, 1), 192, 320, 3, 2); // Mixed_7a (D)
  conv(conv(conv(conv(x, 768, 192, 1), 192, 192, [1, 7], 1, [0, 3]), 192, 192, [7, 1], 1, [3, 0]), 192, 192, 3, 2);
  x = b7a;
  for (const c of [1280, 2048]) {
    // Mixed_7b, 7c (E)
    conv(x, c, 320, 1);
    const t = conv(x, c, 384, 1);
    conv(t, 384, 384, [1, 3], 1, [0, 1]);
    conv(t, 384, 384, [3, 1], 1, [1, 0]);
    const u = conv(conv(x, c, 448, 1), 448, 384, 3, 1, 1);
    conv(u, 384, 384, [1, 3], 1, [0, 1]);
    conv(u, 384, 384, [3, 1], 1, [1, 0]);
    conv(x, c, 192, 1);
  }
  return batch * total;
}

const prod = (xs) => xs.reduce((a, b) => a * b, 1);

/**
 * FLOPs of the matmul and conv kernels in a tf.profile() kernel list, from their input and output shapes:
 * BatchMatMul/_FusedMatMul 2·(output elements)·K, Conv2D/FusedConv2D 2·(output elements)·kh·kw·Cin (NHWC, filter
 * [kh, kw, Cin, Cout]), SvgAttention (@svg/blas' fused attention) 2·Tq·Tk·(d + dv) per head. K is read off `a`: its
 * second-to-last dim is M unless `a` is transposed. Other kernels whose name says conv/matmul/attention are listed as
 * uncounted.
 */
export function kernelFlops(kernels) {
  let total = 0;
  const unknown = new Set();
  for (const k of kernels) {
    const out = k.outputShapes[0];
    if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul') {
      const a = k.inputShapes[0];
      const M = out[out.length - 2];
      const K = a[a.length - 2] === M ? a[a.length - 1] : a[a.length - 2];
      total += 2 * prod(out) * K;
    } else if (k.name === 'Conv2D' || k.name === 'FusedConv2D') {
      const [kh, kw, cin] = k.inputShapes[1];
      total += 2 * prod(out) * kh * kw * cin;
    } else if (k.name === 'SvgAttention') {
      // @svg/blas' fused softmax(q·kᵀ)·v: q [.., Tq, d], k [.., Tk, d], v [.., Tk, dv] → [.., Tq, dv]
      const [q, kk] = k.inputShapes;
      const tk = kk[kk.length - 2];
      total += 2 * prod(q) * tk + 2 * prod(out) * tk;
    } else if (/conv|matmul|einsum|attention/i.test(k.name) && !k.name.endsWith('__op')) {
      // `…__op` entries are the scopes of tfjs' custom-gradient wrappers; the kernels inside them are listed too
      unknown.add(k.name);
    }
  }
  return { flops: total, uncounted: [...unknown] };
}
