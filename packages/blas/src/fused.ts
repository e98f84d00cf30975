import { attention, groupNorm, layerNorm, unary, type UnaryOp } from './addon';

type UnaryOpName = keyof typeof UnaryOp;
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { isFloat32, sizeOf, type BlasKernel } from './kernel';

/**
 * Names of the fused ops that `@svg/nn` runs as single kernels when the backend has them (and as tfjs op composites
 * otherwise); these are the kernels this package provides under those names.
 */
export const FusedKernel = { geluTanh: 'SvgGeluTanh', silu: 'SvgSilu', layerNorm: 'SvgLayerNorm', groupNorm: 'SvgGroupNorm', attention: 'SvgAttention' } as const;

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

/**
 * `SvgAttention`: `softmax(scale·q·kᵀ)·v` over the last two axes of q `[…, tq, d]`, k `[…, tk, d]`, v `[…, tk, dv]`
 * (the same leading axes); attr `scale`.
 */
export const attentionKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { q, k, v } = inputs;
  if (!isFloat32(q, k, v)) return 'not float32';
  const r = q!.shape.length;
  const lead = q!.shape.slice(0, -2).join();
  if (r < 2 || k!.shape.length !== r || v!.shape.length !== r || k!.shape.slice(0, -2).join() !== lead || v!.shape.slice(0, -2).join() !== lead) {
    return `shapes q [${q!.shape}], k [${k!.shape}], v [${v!.shape}] do not match`;
  }
  const [tq, d] = q!.shape.slice(-2) as [number, number];
  const [tk, dk] = k!.shape.slice(-2) as [number, number];
  const [tv, dv] = v!.shape.slice(-2) as [number, number];
  if (dk !== d || tv !== tk) return `shapes q [${q!.shape}], k [${k!.shape}], v [${v!.shape}] do not match`;
  if (tk === 0 || d === 0) return 'no keys or an empty head dimension';
  const out = data.alloc([...q!.shape.slice(0, -1), dv]);
  attention(data.read(q!), data.read(k!), data.read(v!), out.values, sizeOf(q!.shape.slice(0, -2)), tq, tk, d, dv, attrs.scale as number);
  return out.info;
};
