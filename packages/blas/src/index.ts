/**
 * @svg/blas: native kernels for tfjs in Node. `registerBlasKernels('wasm')` (or `'cpu'`) replaces the backend's
 * matmul and conv2d kernels (forward and gradients) with calls into the system OpenBLAS through a small N-API addon,
 * its transpose, unpack, tanh and sigmoid with multithreaded native loops, and adds the fused kernels `@svg/nn` looks
 * for (`FusedKernel`), with no change to model code. Without the addon (not built, no OpenBLAS) nothing is replaced
 * and the stock kernels run. Node only.
 */
export { attention, attentionBackward, blasAvailable, blasInfo, blasLoadError, groupNorm, layerNorm, layerNormBackward, reduceSum, sgemm, transpose, unary, unaryGrad, UnaryOp } from './addon';
export { FusedKernel } from './fused';
export { registerBlasKernels, unregisterBlasKernels, blasKernelBackends, blasKernelStats, type BlasKernelStats } from './register';
export type { BlasBackend } from './backend-data';
