/**
 * The model interface: any function `(z, t, y) => v` that predicts the rectified-flow velocity.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * A velocity model. `z` is the current state (any layout with the batch first, e.g. DiT tokens `[B, T, C]`),
 * `t` a float32 `[B]` tensor of times in `[0, 1]` (0 = noise, 1 = data), `y` the conditioning passed through
 * unchanged (e.g. int32 class labels; `undefined` for an unconditional model).
 *
 * It may return a tensor, or an array whose first element is the velocity (like a PyTorch tuple). The output
 * may be wider than `z` on non-batch axes: where an axis is exactly twice as large (a `learn_sigma` model with
 * 2C output channels), the first half is the velocity. The function must be synchronous (tfjs ops are; GPU work
 * still runs asynchronously) so that the samplers can scope it in `tf.tidy`.
 */
export type VelocityFn<Y = tf.Tensor | undefined> = (z: tf.Tensor, t: tf.Tensor, y: Y) => tf.Tensor | tf.Tensor[];

/**
 * The velocity part of a model output for state `like`: element 0 of an array output, then the first half of
 * every non-batch axis that is exactly twice the size of `like`'s. Throws on any other shape mismatch.
 */
export function selectVelocity(output: tf.Tensor | tf.Tensor[], like: tf.Tensor): tf.Tensor {
  let v = Array.isArray(output) ? output[0] : output;
  if (!(v instanceof tf.Tensor)) throw new TypeError('velocity function returned no tensor');
  if (v.rank !== like.rank) {
    throw new Error(`velocity has shape [${v.shape.join(', ')}] but the state has shape [${like.shape.join(', ')}]`);
  }
  const size = v.shape.slice();
  let sliced = false;
  for (let axis = 0; axis < v.rank; axis++) {
    if (v.shape[axis] === like.shape[axis]) continue;
    if (axis > 0 && v.shape[axis] === 2 * like.shape[axis]) {
      size[axis] = like.shape[axis];
      sliced = true;
      continue;
    }
    throw new Error(
      `velocity has shape [${v.shape.join(', ')}] but the state has shape [${like.shape.join(', ')}] ` +
        `(axis ${axis}: expected ${like.shape[axis]}, or ${2 * like.shape[axis]} for a learn_sigma output)`,
    );
  }
  if (sliced) v = tf.slice(v, new Array(v.rank).fill(0), size);
  return v;
}

/** Evaluates `fn` at `(z, t, y)` and returns only the velocity (see {@link selectVelocity}); call inside a tidy. */
export function evalVelocity<Y>(fn: VelocityFn<Y>, z: tf.Tensor, t: tf.Tensor, y: Y): tf.Tensor {
  return selectVelocity(fn(z, t, y), z);
}
