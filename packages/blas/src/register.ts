import * as tf from '@tensorflow/tfjs-core';
import { blasAvailable } from './addon';
import { backendData, isBlasBackend, type BlasBackend } from './backend-data';
import { conv2d, conv2dBackpropFilter, conv2dBackpropInput, fusedConv2d } from './conv';
import type { BlasKernel } from './kernel';
import {
  FusedKernel,
  adamUpdateKernel,
  attentionGradKernel,
  attentionKernel,
  geluTanhGradKernel,
  geluTanhKernel,
  groupNormKernel,
  layerNormGradKernel,
  layerNormKernel,
  sigmoidKernel,
  siluGradKernel,
  siluKernel,
  tanhKernel,
} from './fused';
import { transposeKernel, unpackKernel } from './layout';
import { batchMatMul, fusedMatMul } from './matmul';
import { meanKernel, sumKernel } from './reduce';

/** The kernels this package replaces, by tfjs kernel name. */
const KERNELS: Record<string, BlasKernel> = {
  [tf.BatchMatMul]: batchMatMul,
  [tf._FusedMatMul]: fusedMatMul,
  [tf.Conv2D]: conv2d,
  [tf.FusedConv2D]: fusedConv2d,
  [tf.Conv2DBackpropInput]: conv2dBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2dBackpropFilter,
  [tf.Transpose]: transposeKernel,
  [tf.Unpack]: unpackKernel,
  [tf.Tanh]: tanhKernel,
  [tf.Sigmoid]: sigmoidKernel,
  [tf.Sum]: sumKernel,
  [tf.Mean]: meanKernel,
  [FusedKernel.geluTanh]: geluTanhKernel,
  [FusedKernel.geluTanhGrad]: geluTanhGradKernel,
  [FusedKernel.silu]: siluKernel,
  [FusedKernel.siluGrad]: siluGradKernel,
  [FusedKernel.layerNorm]: layerNormKernel,
  [FusedKernel.layerNormGrad]: layerNormGradKernel,
  [FusedKernel.groupNorm]: groupNormKernel,
  [FusedKernel.attention]: attentionKernel,
  [FusedKernel.attentionGrad]: attentionGradKernel,
  [FusedKernel.adamUpdate]: adamUpdateKernel,
};

/** The stock kernels we replaced, per backend (undefined where the backend had none, e.g. wasm's filter gradient). */
const stockKernels = new Map<BlasBackend, Map<string, tf.KernelConfig | undefined>>();

/** How often each kernel ran through OpenBLAS (`native`) or went to the stock kernel (`fallback`). */
export type BlasKernelStats = Record<string, { native: number; fallback: number; lastFallbackReason?: string }>;

const stats: BlasKernelStats = {};

function record(kernel: string, outcome: 'native' | 'fallback', reason?: string): void {
  const entry = (stats[kernel] ??= { native: 0, fallback: 0 });
  entry[outcome]++;
  if (reason) entry.lastFallbackReason = reason;
}

/** Counts of BLAS and stock executions per kernel since the process started: shows whether a model hits the fast path. */
export function blasKernelStats(): BlasKernelStats {
  return structuredClone(stats);
}

function blasKernelFunc(kernelName: string, backendName: BlasBackend, kernel: BlasKernel, stock: tf.KernelConfig | undefined): tf.KernelFunc {
  return (args) => {
    const data = backendData(backendName, args.backend);
    let out: tf.TensorInfo | tf.TensorInfo[] | string;
    try {
      out = kernel({ inputs: args.inputs, attrs: args.attrs ?? {}, data });
    } catch (e) {
      data.freeAllocated();
      throw e;
    }
    if (typeof out !== 'string') {
      record(kernelName, 'native');
      return out;
    }
    record(kernelName, 'fallback', out);
    if (!stock) throw new Error(`@svg/blas: ${kernelName} on '${backendName}' does not support this case (${out}), and the backend has no kernel of its own`);
    return stock.kernelFunc(args);
  };
}

/**
 * Replaces the `BatchMatMul`, `_FusedMatMul`, `Conv2D`, `FusedConv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter`,
 * `Transpose`, `Unpack`, `Tanh`, `Sigmoid`, `Sum` and `Mean` kernels of the `cpu` or `wasm` backend (default: the current backend) with
 * native ones, and registers the fused kernels named in `FusedKernel`.
 * Cases they do not cover (NCHW, non-float32, partial batch broadcasts, biases of rank > 1, …) run the saved stock
 * kernel. On wasm this also adds the `Conv2DBackpropFilter` kernel that stock wasm lacks, so conv layers train there.
 *
 * Returns `false`, changing nothing, when the addon is not built (see `blasLoadError()`) or the backend keeps its
 * tensors off the host (webgpu, webgl, tensorflow); `true` once the kernels are registered (again: a no-op).
 * Throws if the backend's own kernels are not registered yet (import its tfjs package first).
 */
export function registerBlasKernels(backend: string = tf.getBackend()): boolean {
  if (!isBlasBackend(backend) || !blasAvailable()) return false;
  if (stockKernels.has(backend)) return true;
  if (!tf.getKernel(tf.BatchMatMul, backend)) {
    throw new Error(`registerBlasKernels('${backend}'): the ${backend} backend has no kernels registered; import '@tensorflow/tfjs-backend-${backend}' first`);
  }
  const saved = new Map<string, tf.KernelConfig | undefined>();
  for (const [kernelName, kernel] of Object.entries(KERNELS)) {
    const stock = tf.getKernel(kernelName, backend);
    if (stock) tf.unregisterKernel(kernelName, backend);
    saved.set(kernelName, stock);
    tf.registerKernel({
      kernelName,
      backendName: backend,
      kernelFunc: blasKernelFunc(kernelName, backend, kernel, stock),
      // The stock kernel's wasm bindings are set up when the backend initialises, which may happen after this call.
      setupFunc: stock?.setupFunc,
      disposeFunc: stock?.disposeFunc,
    });
  }
  stockKernels.set(backend, saved);
  return true;
}

/** Puts the stock kernels back on `backend` (default: every backend `registerBlasKernels` changed). */
export function unregisterBlasKernels(backend?: string): void {
  for (const [name, saved] of stockKernels) {
    if (backend !== undefined && name !== backend) continue;
    for (const [kernelName, stock] of saved) {
      tf.unregisterKernel(kernelName, name);
      if (stock) tf.registerKernel(stock);
    }
    stockKernels.delete(name);
  }
}

/** The backends whose kernels `registerBlasKernels` has replaced. */
export function blasKernelBackends(): BlasBackend[] {
  return [...stockKernels.keys()];
}
