import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendData } from './backend-data';

/** The bias and activation of a fused op (`_FusedMatMul`, `FusedConv2D`), applied along the last axis of n channels. */
export interface Epilogue {
  bias?: TensorInfo;
  prelu?: TensorInfo;
  activation: string;
  leakyreluAlpha: number;
}

const ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu']);

/** A scalar or a vector of 1 or n float32 values: what broadcasts along the channel axis without index math. */
const isChannelVector = (t: TensorInfo, n: number) =>
  t.dtype === 'float32' && t.shape.length <= 1 && (t.shape.length === 0 || t.shape[0] === 1 || t.shape[0] === n);

/** The fused op's epilogue, or why it needs the stock kernel. */
export function planEpilogue(inputs: { bias?: TensorInfo; preluActivationWeights?: TensorInfo }, attrs: NamedAttrMap, n: number): Epilogue | string {
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  const { bias, preluActivationWeights: prelu } = inputs;
  if (!ACTIVATIONS.has(activation)) return `activation '${activation}'`;
  if (bias && !isChannelVector(bias, n)) return `bias of shape [${bias.shape}]`;
  if (activation === 'prelu' && !(prelu && isChannelVector(prelu, n))) return `prelu weights of shape [${prelu?.shape}]`;
  const leakyreluAlpha = (attrs.leakyreluAlpha as number | undefined) ?? 0.2;
  return { bias, prelu: activation === 'prelu' ? prelu : undefined, activation, leakyreluAlpha };
}

/**
 * Fills `out` (rows of n) with the bias and returns the `beta` for the sgemm that follows: 1 adds the product onto the
 * bias, 0 (no bias) overwrites.
 */
export function fillBias(out: Float32Array, epilogue: Epilogue, n: number, data: BackendData): number {
  if (!epilogue.bias) return 0;
  const bias = data.read(epilogue.bias);
  if (bias.length === 1) out.fill(bias[0]);
  else for (let i = 0; i < out.length; i += n) out.set(bias, i);
  return 1;
}

/** Applies the activation to `out` in place (rows of n channels). */
export function activate(out: Float32Array, epilogue: Epilogue, n: number, data: BackendData): void {
  const len = out.length;
  switch (epilogue.activation) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < len; i++) if (out[i] < 0) out[i] = 0;
      return;
    case 'relu6':
      for (let i = 0; i < len; i++) out[i] = Math.min(Math.max(out[i], 0), 6);
      return;
    case 'elu':
      for (let i = 0; i < len; i++) if (out[i] < 0) out[i] = Math.expm1(out[i]);
      return;
    case 'leakyrelu': {
      const alpha = epilogue.leakyreluAlpha;
      for (let i = 0; i < len; i++) if (out[i] < 0) out[i] = alpha * out[i];
      return;
    }
    case 'sigmoid':
      for (let i = 0; i < len; i++) out[i] = 1 / (1 + Math.exp(-out[i]));
      return;
    case 'prelu': {
      const w = data.read(epilogue.prelu!);
      if (w.length === 1) {
        const alpha = w[0];
        for (let i = 0; i < len; i++) if (out[i] < 0) out[i] = alpha * out[i];
      } else {
        for (let i = 0; i < len; i++) if (out[i] < 0) out[i] = w[i % n] * out[i];
      }
      return;
    }
  }
}
