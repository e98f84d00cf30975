/**
 * The rectified-flow training objective (reference `RectifiedFlow.forward`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@svg/nn';
import { evalVelocity, type VelocityFn } from './velocity';

/** Options of {@link rectifiedFlowLoss}. */
export interface FlowLossOptions {
  /** Time shift applied to the uniform draws (SVG config `basic.shift` = 0.4; the reference default is 0.1). */
  shift: number;
  /** The noise `z0` (same shape as `x`); drawn from `rng` when absent. */
  noise?: tf.Tensor;
  /** Uniform draws `u ∈ [0, 1)` (`[B]`) that are shifted into times; drawn from `rng` when absent. */
  uniform?: tf.Tensor | ArrayLike<number>;
  /** Times used as given (`[B]`, no shift); excludes `uniform`. */
  t?: tf.Tensor | ArrayLike<number>;
  /** Host generator for the noise and uniforms that are not given (default: a package-wide one seeded with 0). */
  rng?: SeededRandom;
}

/** Result of {@link rectifiedFlowLoss}; all tensors belong to the caller. */
export interface FlowLoss {
  /** Scalar mean of `mse`. */
  loss: tf.Scalar;
  /** Per-sample mean squared error `[B]`. */
  mse: tf.Tensor1D;
  /** The times used `[B]` (after the shift). */
  t: tf.Tensor1D;
}

let defaultRng: SeededRandom | null = null;

/**
 * Rectified-flow loss for a batch of data `x` (batch first, e.g. normalised tokens `[B, 256, 392]`):
 *
 * ```
 * t   = shift(u; s),  u ~ U[0, 1)         (float32 tensor math, like the reference)
 * z_t = (1 − t)·z0 + t·x,  z0 ~ N(0, I)
 * mse = mean over non-batch axes of (v(z_t, t, y) − (x − z0))²,  loss = mean(mse)
 * ```
 *
 * Synchronous, so it can run inside `optimizer.minimize(() => rectifiedFlowLoss(...).loss)`. The model runs in
 * whatever mode the caller set (label dropout is the model's business).
 */
export function rectifiedFlowLoss<Y>(fn: VelocityFn<Y>, x: tf.Tensor, y: Y, options: FlowLossOptions): FlowLoss {
  const batch = x.shape[0];
  if (x.rank < 2 || batch === undefined) throw new Error(`x must have a batch axis, got shape [${x.shape.join(', ')}]`);
  if (options.t !== undefined && options.uniform !== undefined) throw new Error('give either t or uniform, not both');
  if (options.noise && !sameShape(options.noise.shape, x.shape)) {
    throw new Error(`noise has shape [${options.noise.shape.join(', ')}] but x has shape [${x.shape.join(', ')}]`);
  }
  const rng = (): SeededRandom => options.rng ?? (defaultRng ??= new SeededRandom(0));

  return tf.tidy(() => {
    let t: tf.Tensor;
    if (options.t !== undefined) {
      t = toBatchVector(options.t, batch, 't');
    } else {
      const u = options.uniform !== undefined ? toBatchVector(options.uniform, batch, 'uniform') : tf.tensor1d(rng().fillUniform(new Float32Array(batch)));
      t = shiftTensor(u, options.shift);
    }
    const z0 = options.noise ?? tf.tensor(rng().fillNormal(new Float32Array(x.size)), x.shape, 'float32');
    const tb = tf.reshape(t, [batch, ...new Array(x.rank - 1).fill(1)]);
    const zt = tf.add(tf.mul(tf.sub(1, tb), z0), tf.mul(tb, x));
    const target = tf.sub(x, z0);
    const v = evalVelocity(fn, zt, t, y);
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i + 1);
    const mse = tf.mean(tf.square(tf.sub(v, target)), axes) as tf.Tensor1D;
    return { loss: tf.mean(mse) as tf.Scalar, mse, t: t as tf.Tensor1D };
  });
}

/** `shift·u / (1 + (shift − 1)·u)` elementwise in float32 (identity for `shift ≤ 0`), as the reference does on tensors. */
export function shiftTensor(u: tf.Tensor, shift: number): tf.Tensor {
  if (shift <= 0) return tf.clone(u);
  return tf.tidy(() => tf.div(tf.mul(shift, u), tf.add(1, tf.mul(shift - 1, u))));
}

function toBatchVector(v: tf.Tensor | ArrayLike<number>, batch: number, name: string): tf.Tensor {
  const t = v instanceof tf.Tensor ? tf.cast(v, 'float32') : tf.tensor1d(Float32Array.from(v as ArrayLike<number>));
  if (t.size !== batch) throw new Error(`${name} has ${t.size} values but the batch has ${batch}`);
  return tf.reshape(t, [batch]);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
