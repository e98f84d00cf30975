import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendData } from './backend-data';

/**
 * A native implementation of one tfjs kernel: the output(s), or a short reason (e.g. "NCHW data format") why this case
 * goes to the stock kernel. Implementations decide before they allocate anything.
 */
export type BlasKernel = (args: { inputs: NamedTensorInfoMap; attrs: NamedAttrMap; data: BackendData }) => TensorInfo | TensorInfo[] | string;

export const isFloat32 = (...ts: (TensorInfo | undefined)[]) => ts.every((t) => t !== undefined && t.dtype === 'float32');

export const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
