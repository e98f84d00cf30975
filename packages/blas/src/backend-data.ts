import type { TensorInfo } from '@tensorflow/tfjs-core';

/** The tfjs backends whose tensors live in host memory, so OpenBLAS can read and write them in place. */
export type BlasBackend = 'cpu' | 'wasm';

export const isBlasBackend = (name: string): name is BlasBackend => name === 'cpu' || name === 'wasm';

/**
 * Float32 views of a kernel's tensors, without copies: the cpu backend's own arrays, or the wasm heap.
 * On wasm an allocation may grow (and so detach) the heap, so a kernel allocates all its outputs before it reads
 * any view; a stale view has length 0 and the addon then refuses it as too short.
 */
export interface BackendData {
  /** The values of a float32 tensor. */
  read(t: TensorInfo): Float32Array;
  /** A new float32 tensor (uninitialised on wasm) and a writable view of it. */
  alloc(shape: number[]): { info: TensorInfo; values: Float32Array };
  /** Frees what `alloc` made during this kernel call (used when the kernel throws). */
  freeAllocated(): void;
}

interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
  disposeIntermediateTensorInfo(t: TensorInfo): void;
}

interface WasmBackend {
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  disposeData(dataId: object): boolean;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Data access for one kernel call on `backend` (the object tfjs passes to kernel functions). */
export function backendData(name: BlasBackend, backend: unknown): BackendData {
  const allocated: TensorInfo[] = [];
  if (name === 'cpu') {
    const cpu = backend as CpuBackend;
    return {
      read(t) {
        const values = cpu.data.get(t.dataId).values;
        if (!(values instanceof Float32Array)) throw new Error(`@svg/blas: cpu tensor [${t.shape}] holds no Float32Array`);
        return values;
      },
      alloc(shape) {
        const values = new Float32Array(size(shape));
        const info = cpu.makeTensorInfo(shape, 'float32', values);
        allocated.push(info);
        return { info, values };
      },
      freeAllocated: () => allocated.splice(0).forEach((t) => cpu.disposeIntermediateTensorInfo(t)),
    };
  }
  const wasm = backend as WasmBackend;
  return {
    read: (t) => wasm.typedArrayFromHeap(t),
    alloc(shape) {
      const info = wasm.makeOutput(shape, 'float32');
      allocated.push(info);
      return { info, values: wasm.typedArrayFromHeap(info) };
    },
    freeAllocated: () => allocated.splice(0).forEach((t) => wasm.disposeData(t.dataId)),
  };
}
