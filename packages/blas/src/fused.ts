import { adamUpdate, attention, attentionBackward, groupNorm, layerNorm, layerNormBackward, unary, unaryGrad, type UnaryOp } from './addon';

type UnaryOpName = keyof typeof UnaryOp;
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { isFloat32, sizeOf, type BlasKernel } from './kernel';

/**
 * Names of the fused ops that `@svg/nn` runs as single kernels when the backend has them (and as tfjs op composites
 * otherwise); these are the kernels this package provides under those names.
 */
export const FusedKernel = {
  geluTanh: 'SvgGeluTanh',
  geluTanhGrad: 'SvgGeluTanhGrad',
  silu: 'SvgSilu',
  siluGrad: 'SvgSiluGrad',
  layerNorm: 'SvgLayerNorm',
  layerNormGrad: 'SvgLayerNormGrad',
  groupNorm: 'SvgGroupNorm',
  attention: 'SvgAttention',
  attentionGrad: 'SvgAttentionGrad',
  adamUpdate: 'SvgAdamUpdate',
} as const;

/** An elementwise kernel over float32 tensors of any shape. */
const unaryKernel =
  (op: UnaryOpName): BlasKernel =>
  ({ inputs, data }) => {
    const { x } = inputs;
    if (!isFloat32(x)) return 'not float32';
    const out = data.alloc(x!.shape);
    unary(op, data.read(x!), out.values);
    return out.info;
  };

/** `Tanh`. */
export const tanhKernel = unaryKernel('tanh');
/** `Sigmoid`. */
export const sigmoidKernel = unaryKernel('sigmoid');
/** `SvgGeluTanh`: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` in one pass. */
export const geluTanhKernel = unaryKernel('geluTanh');
/** `SvgSilu`: `x·sigmoid(x)` in one pass. */
export const siluKernel = unaryKernel('silu');

/** The gradient `dy·f'(x)` of an elementwise kernel: inputs x and dy of the same shape. */
const unaryGradKernel =
  (op: 'geluTanh' | 'silu'): BlasKernel =>
  ({ inputs, data }) => {
    const { x, dy } = inputs;
    if (!isFloat32(x, dy)) return 'not float32';
    if (x!.shape.join() !== dy!.shape.join()) return `x [${x!.shape}] and dy [${dy!.shape}] differ`;
    const out = data.alloc(x!.shape);
    unaryGrad(op, data.read(x!), data.read(dy!), out.values);
    return out.info;
  };

/** `SvgGeluTanhGrad`: `dy·gelu'(x)`. */
export const geluTanhGradKernel = unaryGradKernel('geluTanh');
/** `SvgSiluGrad`: `dy·silu'(x)`. */
export const siluGradKernel = unaryGradKernel('silu');

/** Why gamma/beta cannot scale `cols` channels, or undefined when they can (or are absent). */
function checkAffine(inputs: { gamma?: TensorInfo; beta?: TensorInfo }, cols: number): string | undefined {
  for (const [name, t] of [['gamma', inputs.gamma], ['beta', inputs.beta]] as const) {
    if (t && !(isFloat32(t) && t.shape.length === 1 && t.shape[0] === cols)) return `${name} of shape [${t.shape}] for ${cols} channels`;
  }
  return undefined;
}

/** `SvgLayerNorm`: inputs x (normalised over its last axis), optional gamma and beta of that length; attr `epsilon`. */
export const layerNormKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { x, gamma, beta } = inputs;
  if (!isFloat32(x) || x!.shape.length === 0) return 'not a float32 tensor of rank ≥ 1';
  const cols = x!.shape[x!.shape.length - 1];
  const bad = checkAffine(inputs, cols);
  if (bad) return bad;
  const out = data.alloc(x!.shape);
  const rows = cols === 0 ? 0 : sizeOf(x!.shape) / cols;
  layerNorm(data.read(x!), out.values, rows, cols, attrs.epsilon as number, gamma ? data.read(gamma) : null, beta ? data.read(beta) : null);
  return out.info;
};

/**
 * `SvgLayerNormGrad`: inputs x, dy (the gradient of `SvgLayerNorm`'s output) and optional gamma; attr `epsilon` →
 * [dx, dgamma, dbeta] (the last two over the last axis, always returned).
 */
export const layerNormGradKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { x, dy, gamma } = inputs;
  if (!isFloat32(x, dy) || x!.shape.length === 0) return 'not float32 tensors of rank ≥ 1';
  if (x!.shape.join() !== dy!.shape.join()) return `x [${x!.shape}] and dy [${dy!.shape}] differ`;
  const cols = x!.shape[x!.shape.length - 1]!;
  const bad = checkAffine({ gamma }, cols);
  if (bad) return bad;
  const outs = [data.alloc(x!.shape), data.alloc([cols]), data.alloc([cols])];
  const [dx, dgamma, dbeta] = outs.map((o) => data.read(o.info));
  const rows = cols === 0 ? 0 : sizeOf(x!.shape) / cols;
  layerNormBackward(data.read(x!), data.read(dy!), gamma ? data.read(gamma) : null, dx!, dgamma!, dbeta!, rows, cols, attrs.epsilon as number);
  return outs.map((o) => o.info);
};

/**
 * `SvgGroupNorm`: channels-last x `[batch, …, channels]` (statistics per image and group over all other axes), optional
 * gamma and beta per channel; attrs `numGroups`, `epsilon`, and `activation` ('linear' or 'silu', applied after).
 */
export const groupNormKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { x, gamma, beta } = inputs;
  if (!isFloat32(x) || x!.shape.length < 2) return 'not a float32 tensor of rank ≥ 2';
  const shape = x!.shape;
  const channels = shape[shape.length - 1];
  const groups = attrs.numGroups as number;
  if (!(groups > 0 && channels % groups === 0)) return `${channels} channels in ${groups} groups`;
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  if (activation !== 'linear' && activation !== 'silu') return `activation '${activation}'`;
  const bad = checkAffine(inputs, channels);
  if (bad) return bad;
  const out = data.alloc(shape);
  const spatial = sizeOf(shape.slice(1, -1));
  groupNorm(data.read(x!), out.values, shape[0], spatial, channels, groups, attrs.epsilon as number, gamma ? data.read(gamma) : null, beta ? data.read(beta) : null, activation === 'silu');
  return out.info;
};

/** The sizes of an attention call, or why q `[…, tq, d]`, k `[…, tk, d]`, v `[…, tk, dv]` do not fit together. */
function attentionShapes(q: TensorInfo, k: TensorInfo, v: TensorInfo): { batch: number; tq: number; tk: number; d: number; dv: number } | string {
  const r = q.shape.length;
  const lead = q.shape.slice(0, -2).join();
  const mismatch = `shapes q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match`;
  if (r < 2 || k.shape.length !== r || v.shape.length !== r || k.shape.slice(0, -2).join() !== lead || v.shape.slice(0, -2).join() !== lead) return mismatch;
  const [tq, d] = q.shape.slice(-2) as [number, number];
  const [tk, dk] = k.shape.slice(-2) as [number, number];
  const [tv, dv] = v.shape.slice(-2) as [number, number];
  if (dk !== d || tv !== tk) return mismatch;
  if (tk === 0 || d === 0) return 'no keys or an empty head dimension';
  return { batch: sizeOf(q.shape.slice(0, -2)), tq, tk, d, dv };
}

/**
 * `SvgAttention`: `softmax(scale·q·kᵀ)·v` over the last two axes of q `[…, tq, d]`, k `[…, tk, d]`, v `[…, tk, dv]`
 * (the same leading axes); attr `scale`.
 */
export const attentionKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { q, k, v } = inputs;
  if (!isFloat32(q, k, v)) return 'not float32';
  const s = attentionShapes(q!, k!, v!);
  if (typeof s === 'string') return s;
  const out = data.alloc([...q!.shape.slice(0, -1), s.dv]);
  attention(data.read(q!), data.read(k!), data.read(v!), out.values, s.batch, s.tq, s.tk, s.d, s.dv, attrs.scale as number);
  return out.info;
};

/** `SvgAttentionGrad`: inputs q, k, v and dy (the gradient of `SvgAttention`'s output), attr `scale` → [dq, dk, dv]. */
export const attentionGradKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { q, k, v, dy } = inputs;
  if (!isFloat32(q, k, v, dy)) return 'not float32';
  const s = attentionShapes(q!, k!, v!);
  if (typeof s === 'string') return s;
  if (dy!.shape.join() !== [...q!.shape.slice(0, -1), s.dv].join()) return `dy of shape [${dy!.shape}] for an output of [${[...q!.shape.slice(0, -1), s.dv]}]`;
  if (s.tq === 0) return 'no queries';
  const outs = [q!, k!, v!].map((t) => data.alloc(t.shape));
  const [dq, dk, dv] = outs.map((o) => data.read(o.info));
  attentionBackward(data.read(q!), data.read(k!), data.read(v!), data.read(dy!), dq!, dk!, dv!, s.batch, s.tq, s.tk, s.d, s.dv, attrs.scale as number);
  return outs.map((o) => o.info);
};

/**
 * `SvgAdamUpdate`: inputs w, g, m, v (float32, one shape); attr `constants` (the 10 numbers of `adamUpdate`) →
 * [w', m', v'] in one pass instead of ~10 element-wise kernels.
 */
export const adamUpdateKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { w, g, m, v } = inputs;
  if (!isFloat32(w, g, m, v)) return 'not float32 tensors';
  const shape = w!.shape.join();
  if ([g, m, v].some((t) => t!.shape.join() !== shape)) return 'w, g, m and v differ in shape';
  const outs = [data.alloc(w!.shape), data.alloc(w!.shape), data.alloc(w!.shape)];
  const [wOut, mOut, vOut] = outs.map((o) => data.read(o.info));
  adamUpdate(data.read(w!), data.read(g!), data.read(m!), data.read(v!), wOut!, mOut!, vOut!, Float32Array.from(attrs.constants as number[]));
  return outs.map((o) => o.info);
};
