import * as tf from '@tensorflow/tfjs-core';

// customGrad runs a gradFunc outside the tidy that wraps each ordinary gradient, so every gradFunc below tidies its
// own intermediates: otherwise they would live until the whole backward pass ends.

/**
 * Kernel names under which a backend may provide one-pass versions of these ops; `@svg/blas` registers them on Node's
 * cpu and wasm backends. Where the active backend has no such kernel, the same maths runs as ordinary tfjs ops.
 */
export const FUSED_KERNELS = {
  geluTanh: 'SvgGeluTanh',
  /** `dy·gelu'(x)`: inputs x, dy. */
  geluTanhGrad: 'SvgGeluTanhGrad',
  silu: 'SvgSilu',
  /** `dy·silu'(x)`: inputs x, dy. */
  siluGrad: 'SvgSiluGrad',
  layerNorm: 'SvgLayerNorm',
  /** The backward pass of `layerNorm`: inputs x, dy, gamma?; attr epsilon → [dx, dgamma, dbeta]. */
  layerNormGrad: 'SvgLayerNormGrad',
  groupNorm: 'SvgGroupNorm',
  attention: 'SvgAttention',
  /** The backward pass of `attention`: inputs q, k, v, dy; attr scale → [dq, dk, dv]. */
  attentionGrad: 'SvgAttentionGrad',
  /** One Adam/AdamW parameter update (`@svg/train`'s optimisers): inputs w, g, m, v; attr constants → [w', m', v']. */
  adamUpdate: 'SvgAdamUpdate',
} as const;

/** True when the active backend has a kernel for `name` and `x` is float32 (the fused kernels' only dtype). */
export function canFuse(name: string, x: tf.Tensor): boolean {
  return x.dtype === 'float32' && tf.getKernel(name, tf.getBackend()) !== undefined;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** d/dx of tanh-GELU: `0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)`, t = tanh(√(2/π)·(x + 0.044715·x³)). */
function geluTanhDerivative(x: tf.Tensor): tf.Tensor {
  const x2 = tf.mul(x, x);
  const t = tf.tanh(tf.mul(tf.mul(x, tf.add(1, tf.mul(x2, 0.044715))), SQRT_2_OVER_PI));
  const dInner = tf.mul(tf.add(1, tf.mul(x2, 3 * 0.044715)), SQRT_2_OVER_PI);
  return tf.add(tf.mul(tf.add(1, t), 0.5), tf.mul(tf.mul(tf.mul(x, 0.5), tf.sub(1, tf.mul(t, t))), dInner));
}

/** d/dx of SiLU: `σ(x)·(1 + x·(1 − σ(x)))`. */
function siluDerivative(x: tf.Tensor): tf.Tensor {
  const s = tf.sigmoid(x);
  return tf.mul(s, tf.add(1, tf.mul(x, tf.sub(1, s))));
}

/** A differentiable elementwise kernel: `kernel(x)`, with gradient `dy·derivative(x)` (one kernel too where the backend has `gradKernel`). */
function elementwiseKernel(kernel: string, gradKernel: string, derivative: (x: tf.Tensor) => tf.Tensor): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad((x: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor]);
    return {
      value: tf.engine().runKernel(kernel, { x: x as tf.Tensor }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) =>
        tf.tidy(() => (canFuse(gradKernel, dy) ? (tf.engine().runKernel(gradKernel, { x: saved!, dy }) as tf.Tensor) : tf.mul(dy, derivative(saved!)))),
    };
  });
}

/** The fused tanh-GELU kernel, differentiable. */
export const geluTanhKernel = elementwiseKernel(FUSED_KERNELS.geluTanh, FUSED_KERNELS.geluTanhGrad, geluTanhDerivative);
/** The fused SiLU kernel, differentiable. */
export const siluKernel = elementwiseKernel(FUSED_KERNELS.silu, FUSED_KERNELS.siluGrad, siluDerivative);

/**
 * Runs the layer- or group-norm kernel on x with optional per-channel gamma and beta, differentiable. `grouped`
 * reshapes x (channels last) so that the statistics of `normAxes` are the kernel's; the gradient is that of
 * `(x − mean)·rsqrt(var + eps)·gamma + beta` over those axes (then of SiLU when `attrs.activation` is 'silu').
 */
export function normKernel(
  kernel: string,
  x: tf.Tensor,
  gamma: tf.Tensor | null,
  beta: tf.Tensor | null,
  attrs: { epsilon: number; numGroups?: number; activation?: 'linear' | 'silu' },
  grouped: (t: tf.Tensor) => tf.Tensor,
  normAxes: number[],
): tf.Tensor {
  const inputs = [x, gamma, beta].filter((t): t is tf.Tensor => t !== null);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xt, ...affine] = args as tf.Tensor[];
    const g = gamma ? affine[0]! : null;
    const b = beta ? affine[gamma ? 1 : 0]! : null;
    save([xt!]);
    const named: tf.NamedTensorMap = { x: xt!, ...(g ? { gamma: g } : {}), ...(b ? { beta: b } : {}) };
    const value = tf.engine().runKernel(kernel, named, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    const gradFunc = (dOut: tf.Tensor, [xs]: tf.Tensor[]) =>
      tf.tidy(() => {
        if (kernel === FUSED_KERNELS.layerNorm && canFuse(FUSED_KERNELS.layerNormGrad, dOut)) {
          const [dx, dgamma, dbeta] = tf.engine().runKernel(FUSED_KERNELS.layerNormGrad, { x: xs!, dy: dOut, ...(g ? { gamma: g } : {}) }, { epsilon: attrs.epsilon }) as tf.Tensor[];
          return [dx!, ...(g ? [dgamma!] : []), ...(b ? [dbeta!] : [])];
        }
        const channelAxes = xs!.shape.slice(0, -1).map((_, i) => i);
        const xg = grouped(xs!);
        const { mean, variance } = tf.moments(xg, normAxes, true);
        const rstd = tf.rsqrt(tf.add(variance, attrs.epsilon));
        const xhat = tf.mul(tf.sub(xg, mean), rstd);
        let dy = dOut;
        if (attrs.activation === 'silu') {
          const xhatFlat = tf.reshape(xhat, xs!.shape);
          const scaled = g ? tf.mul(xhatFlat, g) : xhatFlat;
          dy = tf.mul(dOut, siluDerivative(b ? tf.add(scaled, b) : scaled));
        }
        const dxhat = grouped(g ? tf.mul(dy, g) : dy);
        const dxg = tf.mul(rstd, tf.sub(tf.sub(dxhat, tf.mean(dxhat, normAxes, true)), tf.mul(xhat, tf.mean(tf.mul(dxhat, xhat), normAxes, true))));
        const grads = [tf.reshape(dxg, xs!.shape)];
        if (g) grads.push(tf.sum(tf.mul(dy, tf.reshape(xhat, xs!.shape)), channelAxes));
        if (b) grads.push(tf.sum(dy, channelAxes));
        return grads;
      });
    return { value, gradFunc };
  });
  return op(...inputs);
}

/**
 * `softmax(scale·q·kᵀ)·v` as one kernel, differentiable: the backward pass recomputes the attention weights P and
 * returns dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dy with dS = P ⊙ (dy·vᵀ − rowsum(dy·vᵀ ⊙ P)) — in one kernel
 * too where the backend has `SvgAttentionGrad`.
 */
export function attentionKernel(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, scale: number): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qt, kt, vt, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([qt, kt, vt]);
    const value = tf.engine().runKernel(FUSED_KERNELS.attention, { q: qt, k: kt, v: vt }, { scale }) as tf.Tensor;
    const gradFunc = (dy: tf.Tensor, [qs, ks, vs]: tf.Tensor[]) =>
      tf.tidy(() => {
        if (canFuse(FUSED_KERNELS.attentionGrad, dy)) return tf.engine().runKernel(FUSED_KERNELS.attentionGrad, { q: qs!, k: ks!, v: vs!, dy }, { scale }) as tf.Tensor[];
        const p = tf.softmax(tf.mul(tf.matMul(qs!, ks!, false, true), scale));
        const dp = tf.matMul(dy, vs!, false, true);
        const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true)));
        return [tf.mul(tf.matMul(ds, ks!), scale), tf.mul(tf.matMul(ds, qs!, true, false), scale), tf.matMul(p, dy, true, false)];
      });
    return { value, gradFunc };
  });
  return op(q, k, v);
}
