import { broadcast_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { sgemm } from './addon';
import { activate, fillBias, planEpilogue } from './epilogue';
import { isFloat32, sizeOf, type BlasKernel } from './kernel';

/** One batched sgemm call: C_i = op(A_i)·op(B_i) for i < batch, C of shape `outShape`. */
export interface GemmPlan {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  strideA: number;
  strideB: number;
  outShape: number[];
}

/**
 * Plans tf.matMul semantics (rank ≥ 2, batch dims broadcast) as one batched sgemm. Each side's batch must be the
 * output's batch or a single matrix (stride 0); other broadcasts, mismatched or empty shapes return a reason.
 */
export function planMatMul(aShape: number[], bShape: number[], transA: boolean, transB: boolean): GemmPlan | string {
  const ra = aShape.length;
  const rb = bShape.length;
  if (ra < 2 || rb < 2) return 'rank < 2';
  const m = transA ? aShape[ra - 1] : aShape[ra - 2];
  const k = transA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transB ? bShape[rb - 2] : bShape[rb - 1];
  if (k !== kb) return 'inner dimensions differ';
  let outBatch: number[];
  try {
    outBatch = broadcast_util.assertAndGetBroadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
  } catch {
    return 'batch dimensions do not broadcast';
  }
  const batch = sizeOf(outBatch);
  const outShape = [...outBatch, m, n];
  if (sizeOf(outShape) === 0 || k === 0) return 'empty tensor';
  const batchA = sizeOf(aShape.slice(0, -2));
  const batchB = sizeOf(bShape.slice(0, -2));
  // A side's batch either equals the output's (then, having no larger dim, it is the same shape) or is one matrix.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return 'partial batch broadcast';
  const strideA = batchA === 1 ? 0 : m * k;
  const strideB = batchB === 1 ? 0 : k * n;
  // [batch, m, k] · one [k, n] is a single [batch·m, k] · [k, n] product: fewer, larger BLAS calls.
  if (strideB === 0 && strideA !== 0 && !transA) return { batch: 1, m: batch * m, n, k, transA, transB, strideA: 0, strideB: 0, outShape };
  return { batch, m, n, k, transA, transB, strideA, strideB, outShape };
}

function plan(inputs: { a?: TensorInfo; b?: TensorInfo }, attrs: Record<string, unknown>): GemmPlan | string {
  const { a, b } = inputs;
  if (!isFloat32(a, b)) return 'not float32';
  return planMatMul(a!.shape, b!.shape, !!attrs.transposeA, !!attrs.transposeB);
}

/** `BatchMatMul`: any rank, transposes, batch broadcast against a single matrix. */
export const batchMatMul: BlasKernel = ({ inputs, attrs, data }) => {
  const p = plan(inputs, attrs);
  if (typeof p === 'string') return p;
  const out = data.alloc(p.outShape);
  sgemm(data.read(inputs.a!), data.read(inputs.b!), out.values, p.batch, p.m, p.n, p.k, p.transA, p.transB, p.strideA, p.strideB, 0);
  return out.info;
};

/** `_FusedMatMul`: `BatchMatMul`, then a bias of rank ≤ 1 and an activation. */
export const fusedMatMul: BlasKernel = ({ inputs, attrs, data }) => {
  const p = plan(inputs, attrs);
  if (typeof p === 'string') return p;
  const epilogue = planEpilogue(inputs, attrs, p.n);
  if (typeof epilogue === 'string') return epilogue;
  const out = data.alloc(p.outShape);
  const beta = fillBias(out.values, epilogue, p.n, data);
  sgemm(data.read(inputs.a!), data.read(inputs.b!), out.values, p.batch, p.m, p.n, p.k, p.transA, p.transB, p.strideA, p.strideB, beta);
  activate(out.values, epilogue, p.n, data);
  return out.info;
};
