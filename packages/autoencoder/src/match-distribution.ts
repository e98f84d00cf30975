import * as tf from '@tensorflow/tfjs-core';

/**
 * `f(x)` in the forward pass, no gradient in the backward pass (PyTorch `f(x).detach()`; tfjs has no stopGradient).
 * `f` runs inside the custom gradient, off the tape: a zero gradient multiplied back through `f`'s own ops could be
 * NaN (e.g. through the √ of a variance that is exactly 0).
 */
export function detach(x: tf.Tensor, f: (x: tf.Tensor) => tf.Tensor = tf.clone): tf.Tensor {
  const withoutGradient = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: f(inputs[0] as tf.Tensor),
    gradFunc: () => tf.zerosLike(inputs[0] as tf.Tensor),
  }));
  return withoutGradient(x);
}

/**
 * Mean over channels of the per-channel mean and of the per-channel unbiased std, pooled over batch and tokens.
 * `x`: tokens `[B, N, C]`. Returns two scalars.
 */
function pooledStats(x: tf.Tensor3D): [tf.Scalar, tf.Scalar] {
  const [b, n] = x.shape;
  const count = b * n;
  if (count < 2) throw new Error(`match_distribution needs at least 2 values per channel (batch × tokens), got ${count}`);
  const { mean, variance } = tf.moments(x, [0, 1]);
  const std = tf.sqrt(tf.mul(variance, count / (count - 1)));
  return [tf.mean(mean), tf.mean(std)];
}

/**
 * The reference's `match_distribution(h, h_vit, eps=1e-6)` on token layout: re-standardises the residual ViT
 * features `hVit [B, N, C2]` with four scalars computed over the **whole batch**, so that their pooled
 * statistics match those of the DINOv3 features `h [B, N, C1]`:
 *
 * `(hVit − μ_v) / (σ_v + eps) · σ_h + μ_h`, with μ = mean over channels of per-channel means and σ = mean over
 * channels of per-channel unbiased stds (divisor B·N − 1). The scalars are detached (no gradient flows through
 * them). The result for one image depends on the rest of its batch, as upstream (spec defect D14).
 */
export function matchDistribution(h: tf.Tensor3D, hVit: tf.Tensor3D, eps = 1e-6): tf.Tensor3D {
  if (h.rank !== 3 || hVit.rank !== 3 || h.shape[0] !== hVit.shape[0] || h.shape[1] !== hVit.shape[1]) {
    throw new Error(`matchDistribution expects tokens h [B, N, C1] and hVit [B, N, C2], got [${h.shape}] and [${hVit.shape}]`);
  }
  return tf.tidy(() => {
    const stats = (x: tf.Tensor) => tf.stack(pooledStats(x as tf.Tensor3D));
    const [meanH, stdH] = tf.unstack(detach(h, stats));
    const [meanV, stdV] = tf.unstack(detach(hVit, stats));
    const normed = tf.div(tf.sub(hVit, meanV), tf.add(stdV, eps));
    return tf.add(tf.mul(normed, stdH), meanH) as tf.Tensor3D;
  });
}
