/**
 * @svg/blas: OpenBLAS kernels for tfjs in Node. `registerBlasKernels('wasm')` (or `'cpu'`) replaces the backend's
 * matmul and conv2d kernels (forward and gradients) with calls into the system OpenBLAS through a small N-API addon,
 * with no change to model code. Without the addon (not built, no OpenBLAS) nothing is replaced and the stock kernels
 * run. Node only.
 */
export { blasAvailable, blasInfo, blasLoadError, groupNorm, layerNorm, sgemm, transpose, unary, UnaryOp } from './addon';
export { FusedKernel } from './fused';
export { registerBlasKernels, unregisterBlasKernels, blasKernelBackends, blasKernelStats, type BlasKernelStats } from './register';
export type { BlasBackend } from './backend-data';
