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
  transpose(x: Float32Array, out: Float32Array, shape: number[], perm: number[]): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  unaryGrad(op: number, x: Float32Array, dy: Float32Array, out: Float32Array): void;
  layerNormBackward(x: Float32Array, dy: Float32Array, gamma: Float32Array | null, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, cols: number, eps: number): void;
  layerNorm(x: Float32Array, out: Float32Array, rows: number, cols: number, eps: number, gamma: Float32Array | null, beta: Float32Array | null): void;
  groupNorm(x: Float32Array, out: Float32Array, batch: number, spatial: number, channels: number, groups: number, eps: number, gamma: Float32Array | null, beta: Float32Array | null, silu: boolean): void;
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, batch: number, tq: number, tk: number, d: number, dv: number, scale: number): void;
  attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, dy: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, batch: number, tq: number, tk: number, d: number, dvDim: number, scale: number): void;
  reduceSum(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number, scale: number): void;
  winogradConv3x3(x: Float32Array, filter: Float32Array, bias: Float32Array | null, y: Float32Array, batch: number, h: number, w: number, inC: number, outC: number, oh: number, ow: number, padTop: number, padLeft: number): void;
  adamUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, wOut: Float32Array, mOut: Float32Array, vOut: Float32Array, constants: Float32Array): void;
  info(): { config: string; threads: number };
}

// src/ (tests) and dist/ (built bundles) both sit one level below the package root, next to build/.
const ADDON_PATH = '../build/Release/svg_blas.node';

let addon: BlasAddon | null | undefined;
let loadError: Error | null = null;

function load(): BlasAddon | null {
  if (addon === undefined) {
    // libgomp reads this once, when the addon loads. Its default policy (spin for a while after each parallel region)
    // would keep the cores from OpenBLAS' threads, which usually run next; the user's own setting wins.
    process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
    // OpenBLAS' idle threads call sched_yield in a loop for 2^28 cycles (~0.1 s) after each product before they sleep;
    // on a machine with few cores that loop takes the cores from the OpenMP kernels that run between the products
    // (measured: a fifth of a DiT training step in the kernel's scheduler). 2^4 cycles: they sleep at once.
    process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
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

function native(): BlasAddon {
  const a = load();
  if (!a) throw new Error(`@svg/blas: the native addon is not available (${loadError?.message})`);
  return a;
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
  native().sgemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, beta);
}

/** `out = x.transpose(perm)` for x of `shape` (row-major); out must not overlap x. Throws without the addon. */
export function transpose(x: Float32Array, out: Float32Array, shape: number[], perm: number[]): void {
  native().transpose(x, out, shape, perm);
}

/** The elementwise functions of `unary`. */
export const UnaryOp = { tanh: 0, geluTanh: 1, sigmoid: 2, silu: 3 } as const;

/** `out[i] = f(x[i])` for every element of x (out may be x). Throws without the addon. */
export function unary(op: keyof typeof UnaryOp, x: Float32Array, out: Float32Array): void {
  native().unary(UnaryOp[op], x, out);
}

/** `out[i] = dy[i]·f'(x[i])` for the tanh-GELU or SiLU of {@link unary} (out may be dy). Throws without the addon. */
export function unaryGrad(op: 'geluTanh' | 'silu', x: Float32Array, dy: Float32Array, out: Float32Array): void {
  native().unaryGrad(UnaryOp[op], x, dy, out);
}

/**
 * Layer norm of each of the `rows` rows of `cols` values: `(x − mean)/√(var + eps)·gamma + beta` (biased variance;
 * gamma, beta of length cols, or null). Throws without the addon.
 */
export function layerNorm(x: Float32Array, out: Float32Array, rows: number, cols: number, eps: number, gamma: Float32Array | null = null, beta: Float32Array | null = null): void {
  native().layerNorm(x, out, rows, cols, eps, gamma, beta);
}

/**
 * The gradients of {@link layerNorm} for the upstream gradient `dy`: `dx` (rows × cols), and over all rows
 * `dgamma = Σ dy·x̂`, `dbeta = Σ dy` (cols each, summed in double; computed whether or not the forward had them).
 * Throws without the addon.
 */
export function layerNormBackward(x: Float32Array, dy: Float32Array, gamma: Float32Array | null, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, cols: number, eps: number): void {
  native().layerNormBackward(x, dy, gamma, dx, dgamma, dbeta, rows, cols, eps);
}

/**
 * Group norm of channels-last `x` [batch, spatial, channels]: statistics per (image, group of channels/groups
 * consecutive channels) over all positions, biased variance, then `·gamma + beta` per channel, then SiLU if `silu`.
 * Throws without the addon.
 */
export function groupNorm(x: Float32Array, out: Float32Array, batch: number, spatial: number, channels: number, groups: number, eps: number, gamma: Float32Array | null = null, beta: Float32Array | null = null, silu = false): void {
  native().groupNorm(x, out, batch, spatial, channels, groups, eps, gamma, beta, silu);
}

/**
 * `out_i = softmax(scale·q_i·k_iᵀ)·v_i` for i < batch, with q_i [tq, d], k_i [tk, d], v_i [tk, dv] and out_i [tq, dv]
 * row-major and packed; the scores stay inside the call. Throws without the addon.
 */
export function attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, batch: number, tq: number, tk: number, d: number, dv: number, scale: number): void {
  native().attention(q, k, v, out, batch, tq, tk, d, dv, scale);
}

/**
 * The gradients dq, dk, dv (written, same layouts as q, k, v) of {@link attention}'s output for the upstream gradient
 * dy `[batch, tq, dvDim]`, recomputing the attention weights block by block. Throws without the addon.
 */
export function attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, dy: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, batch: number, tq: number, tk: number, d: number, dvDim: number, scale: number): void {
  native().attentionBackward(q, k, v, dy, dq, dk, dv, batch, tq, tk, d, dvDim, scale);
}

/**
 * `out[o, i] = scale · Σ_r x[o, r, i]` for x `[outer, reduce, inner]` and out `[outer, inner]` (row-major), summed in
 * double precision over all cores. Throws without the addon.
 */
export function reduceSum(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number, scale = 1): void {
  native().reduceSum(x, out, outer, reduce, inner, scale);
}

/**
 * A 3×3, stride-1 NHWC conv (+ bias of 1 or outC values) by Winograd F(2×2, 3×3): x [batch, h, w, inC], filter HWIO
 * [3, 3, inC, outC], y [batch, oh, ow, outC] overwritten, where y[b, i, j] reads x rows from i − padTop and columns
 * from j − padLeft (zeros outside). Throws without the addon.
 */
export function winogradConv3x3(x: Float32Array, filter: Float32Array, bias: Float32Array | null, y: Float32Array, batch: number, h: number, w: number, inC: number, outC: number, oh: number, ow: number, padTop: number, padLeft: number): void {
  native().winogradConv3x3(x, filter, bias, y, batch, h, w, inC, outC, oh, ow, padTop, padLeft);
}

/**
 * One Adam/AdamW update in one pass (src/native/optim.c): from weights `w`, gradient `g` and moments `m`, `v` into
 * `wOut`, `mOut`, `vOut`; `constants` = [decay, l2, lerpWeight, lerpComplement, lerpLow, beta2, oneMinusBeta2,
 * biasCorrection2Sqrt, eps, negStepSize], each rounded to float32 as the tfjs composite rounds its scalars.
 */
export function adamUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, wOut: Float32Array, mOut: Float32Array, vOut: Float32Array, constants: Float32Array): void {
  native().adamUpdate(w, g, m, v, wOut, mOut, vOut, constants);
}
