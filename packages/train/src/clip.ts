import * as tf from '@tensorflow/tfjs-core';

/**
 * The global L2 norm of a set of gradients, `‖(‖g₁‖, ‖g₂‖, …)‖₂` (as `torch.nn.utils.clip_grad_norm_` computes it).
 * Returns a scalar tensor owned by the caller (0 for no gradients).
 */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  const list = [...grads];
  return tf.tidy(() => {
    if (list.length === 0) return tf.scalar(0);
    // √(Σ ‖g‖²): the same value, without the Abs and Pow kernels of tf.norm.
    return tf.sqrt(tf.addN(list.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
  });
}

/**
 * `torch.nn.utils.clip_grad_norm_(params, maxNorm)`: scales every gradient by `min(1, maxNorm / (norm + 1e-6))`
 * (always multiplied, also when the factor is 1, like PyTorch). Returns the new gradients (the inputs are disposed)
 * and the total norm before clipping (a scalar tensor owned by the caller).
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; totalNorm: tf.Scalar } {
  if (!(maxNorm > 0)) throw new Error(`clip_grad_norm must be > 0, got ${maxNorm}`);
  const totalNorm = globalNorm(grads.values());
  const coef = tf.tidy(() => tf.minimum(tf.div(maxNorm, tf.add(totalNorm, 1e-6)), 1));
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) {
    out.set(name, tf.mul(g, coef));
    g.dispose();
  }
  coef.dispose();
  return { grads: out, totalNorm };
}
