import { createRequire } from 'node:module';

/** The native binding built from src/native/blas.c. */
interface BlasAddon {
  sgemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    batch: number,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    strideA: number,
    strideB: number,
    beta: number,
  ): void;
  info(): { config: string; threads: number };
}

// src/ (tests) and dist/ (built bundles) both sit one level below the package root, next to build/.
const ADDON_PATH = '../build/Release/svg_blas.node';

let addon: BlasAddon | null | undefined;
let loadError: Error | null = null;

function load(): BlasAddon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH) as BlasAddon;
    } catch (e) {
      addon = null;
      loadError = e as Error;
    }
  }
  return addon;
}

/** True when the OpenBLAS addon is built and loads; otherwise `registerBlasKernels` does nothing. */
export function blasAvailable(): boolean {
  return load() !== null;
}

/** Why the addon did not load (`null` when it did), e.g. to show in a warning. */
export function blasLoadError(): Error | null {
  load();
  return loadError;
}

/** OpenBLAS' build configuration and thread count, or `null` without the addon. */
export function blasInfo(): { config: string; threads: number } | null {
  return load()?.info() ?? null;
}

/**
 * Row-major `C_i = op(A_i)·op(B_i) + beta·C_i` for `i < batch`, with `A_i` at `a[i·strideA]`, `B_i` at `b[i·strideB]`
 * (stride 0 broadcasts) and `C_i` at `c[i·m·n]`; `op(A_i)` is m×k, `op(B_i)` is k×n. Throws without the addon.
 */
export function sgemm(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  batch: number,
  m: number,
  n: number,
  k: number,
  transA = false,
  transB = false,
  strideA = m * k,
  strideB = k * n,
  beta = 0,
): void {
  const native = load();
  if (!native) throw new Error(`@svg/blas: the native addon is not available (${loadError?.message})`);
  native.sgemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, beta);
}
