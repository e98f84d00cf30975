import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-wasm's backend object a kernel needs to read and write tensors on the wasm heap. */
interface WasmBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

/**
 * `out[k] = Σ x` over `axes` of a row-major `shape`, accumulated in float64; `out` is laid out over the kept axes in
 * order. One pass over x with a running output index (no transpose).
 */
export function sumOverAxes(x: Float32Array, shape: number[], axes: number[]): Float64Array {
  const rank = shape.length;
  const reduced = shape.map((_, i) => axes.includes(i));
  const outStride = new Array<number>(rank).fill(0);
  let size = 1;
  for (let i = rank - 1; i >= 0; i--) {
    if (!reduced[i]) {
      outStride[i] = size;
      size *= shape[i]!;
    }
  }
  const out = new Float64Array(size);
  if (x.length === 0) return out;
  const first = axes.length > 0 ? Math.min(...axes) : rank;
  const last = axes.length > 0 ? Math.max(...axes) + 1 : rank;
  if (axes.length === last - first) {
    // Adjacent axes: x is [outer, reduce, inner].
    const outer = shape.slice(0, first).reduce((a, b) => a * b, 1);
    const reduce = shape.slice(first, last).reduce((a, b) => a * b, 1);
    const inner = shape.slice(last).reduce((a, b) => a * b, 1);
    for (let o = 0; o < outer; o++) {
      const base = o * reduce * inner;
      if (inner === 1) {
        let s = 0;
        for (let r = 0; r < reduce; r++) s += x[base + r]!;
        out[o] = s;
      } else {
        for (let r = 0; r < reduce; r++) {
          const row = base + r * inner;
          for (let i = 0; i < inner; i++) out[o * inner + i] += x[row + i]!;
        }
      }
    }
    return out;
  }
  const index = new Array<number>(rank).fill(0);
  let k = 0;
  for (let n = 0; n < x.length; n++) {
    out[k] += x[n]!;
    for (let i = rank - 1; i >= 0; i--) {
      index[i]++;
      k += outStride[i]!;
      if (index[i]! < shape[i]!) break;
      k -= outStride[i]! * shape[i]!;
      index[i] = 0;
    }
  }
  return out;
}

function reductionKernel(name: string, mean: boolean, stock: tf.KernelConfig): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype !== 'float32') return stock.kernelFunc(args);
      const rank = x.shape.length;
      const given = args.attrs?.axis as number | number[] | null | undefined;
      const list = given === null || given === undefined ? x.shape.map((_, i) => i) : Array.isArray(given) ? given : [given];
      const axes = [...new Set(list.map((a) => (a < 0 ? a + rank : a)))];
      if (axes.some((a) => !(a >= 0 && a < rank))) throw new Error(`${name}: axis ${JSON.stringify(given)} out of range for rank ${rank}`);
      const backend = args.backend as unknown as WasmBackend;
      const sums = sumOverAxes(backend.typedArrayFromHeap(x), x.shape, axes);
      const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
      const outShape = args.attrs?.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
      const out = backend.makeOutput(outShape, 'float32');
      const values = backend.typedArrayFromHeap(out); // after makeOutput: an allocation may move the heap
      for (let i = 0; i < sums.length; i++) values[i] = mean ? sums[i]! / count : sums[i]!;
      return out;
    },
  };
}

const replaced = new Set<string>();

/**
 * Replaces tfjs-wasm's `Sum` and `Mean` for float32 with kernels that accumulate in float64. The stock kernels add
 * one value at a time in float32, so a mean over 10⁵ values (the flow loss over a 256×392 latent) is off by ~1e-5
 * relative; these agree with a float64 reference to float32 rounding. Other dtypes run the stock kernels. In Node
 * `@svg/blas` registers faster native ones on top (this version then serves the cases they pass on). Idempotent.
 */
export function registerAccurateReductions(backendName = 'wasm'): void {
  if (replaced.has(backendName)) return;
  for (const [name, mean] of [[tf.Sum, false], [tf.Mean, true]] as const) {
    const stock = tf.getKernel(name, backendName);
    if (!stock) throw new Error(`registerAccurateReductions: the ${backendName} backend has no ${name} kernel`);
    tf.unregisterKernel(name, backendName);
    tf.registerKernel(reductionKernel(name, mean, stock));
  }
  replaced.add(backendName);
}
