import * as tf from '@tensorflow/tfjs-core';
import type { Distributed } from '@svg/distributed';
import type { SeededRandom } from '@svg/nn';
import type { DiT } from '@svg/dit';
import { rectifiedFlowLoss } from '@svg/flow';
import { clipGradNorm, globalNorm } from './clip';
import { rankRows } from './data-parallel';
import type { Ema } from './ema';
import type { AdamW } from './optim';

/** One micro-batch for the DiT: normalised latent tokens and class labels. */
export interface DiTBatch {
  /** `[B, 256, C]`, already feature-normalised (`(x − μ)/σ`) when the config asks for it. */
  tokens: tf.Tensor3D;
  /** `[B]` class indices in `[0, numClasses)`. */
  labels: Int32Array;
}

/**
 * Everything one DiT optimisation step touches. The step functions read and write only this object (no module-level
 * state). With `distributed`, each rank computes the gradients of its share of the global batch and
 * {@link ditTrainStep} averages them over the ranks before clipping and the update, so every rank applies the same
 * update.
 */
export interface DiTStepContext {
  model: DiT;
  optimizer: AdamW;
  ema: Ema<DiT>;
  /** Host generator of the noise `z0` and the uniform times (seeded per rank). */
  random: SeededRandom;
  /** Training time shift (`basic.shift`, 0.4 for SVG). */
  shift: number;
  /** Maximum global gradient norm, or null for no clipping (`basic.clip_grad_norm`). */
  clipGradNorm: number | null;
  /** EMA decay (0.9999). */
  emaDecay: number;
  /** The data-parallel job; absent: one process. */
  distributed?: Pick<Distributed, 'rank' | 'worldSize' | 'allReduceMean'>;
}

/** Loss and gradients of one micro-batch; the caller owns (and disposes) every tensor. */
export interface Gradients {
  loss: tf.Scalar;
  /** By parameter name (our layout), for every parameter the optimiser trains. */
  grads: Map<string, tf.Tensor>;
}

/** What one optimiser step reports. */
export interface StepResult {
  /** Mean loss over the micro-batches. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** Raised when the loss or the gradient norm is NaN or infinite. Nothing was updated in that step. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(
    readonly step: number,
    readonly loss: number,
    readonly gradNorm: number,
  ) {
    super(`training diverged at step ${step}: loss = ${loss}, gradient norm = ${gradNorm}; the update was not applied`);
  }
}

/**
 * Rectified-flow loss (spec §4.3) of one micro-batch and its gradients with respect to the optimised parameters.
 * Draws the uniform times (first, `B` values) and then the noise (`B·256·C` values) from `ctx.random`; label dropout
 * (training mode, probability `classDropoutProb`) draws `B` uniforms from `model.dropoutRandom`. With `distributed`,
 * `B` is the global batch (`worldSize` times this rank's) and this rank takes the rows of its samples, so the
 * result does not depend on the number of ranks.
 */
export function ditGradients(ctx: Pick<DiTStepContext, 'model' | 'optimizer' | 'random' | 'shift' | 'distributed'>, batch: DiTBatch): Gradients {
  const { model, optimizer, random } = ctx;
  const replica = ctx.distributed ?? { rank: 0, worldSize: 1 };
  const [b, t, c] = batch.tokens.shape;
  if (batch.labels.length !== b) throw new Error(`DiT batch: ${batch.labels.length} labels for ${b} samples`);
  const globalRows = b * replica.worldSize;
  const uniform = rankRows(random.uniformArray(globalRows), globalRows, 1, replica);
  const noise = rankRows(random.normalArray(globalRows * t * c), globalRows, t * c, replica);
  // The DiT refuses training-mode labels without a null class; without dropout there is no train-only behaviour.
  const dropout = model.config.classDropoutProb;
  model.train(dropout > 0);
  const dropAll = dropout > 0 ? Uint8Array.from({ length: globalRows }, () => (model.dropoutRandom.uniform() < dropout ? 1 : 0)) : null;
  const forceDropIds = dropAll ? rankRows(dropAll, globalRows, 1, replica) : undefined;
  const params = new Map(model.trainableParameters());
  const names = new Map<string, string>();
  const vars: tf.Variable[] = optimizer.parameterNames.map((name) => {
    const p = params.get(name);
    if (!p) throw new Error(`optimizer parameter ${name} is not a trainable parameter of the DiT`);
    names.set(p.variable.name, name);
    return p.variable;
  });
  const noiseTensor = tf.tensor(noise, [b, t, c], 'float32');
  try {
    const { value, grads } = tf.variableGrads(
      () => rectifiedFlowLoss((z, tt, y) => model.forward(z as tf.Tensor3D, tt as tf.Tensor1D, y, { forceDropIds }), batch.tokens, batch.labels, { shift: ctx.shift, noise: noiseTensor, uniform }).loss,
      vars,
    );
    const out = new Map<string, tf.Tensor>();
    for (const [varName, g] of Object.entries(grads)) out.set(names.get(varName)!, g);
    return { loss: value, grads: out };
  } finally {
    noiseTensor.dispose();
  }
}

/**
 * Clips (when configured), applies the optimiser and updates the EMA. Takes ownership of `grads`. Returns the
 * global gradient norm before clipping (owned by the caller).
 */
export function applyDiTGradients(ctx: Pick<DiTStepContext, 'optimizer' | 'ema' | 'clipGradNorm' | 'emaDecay'>, grads: Map<string, tf.Tensor>): void {
  let final = grads;
  if (ctx.clipGradNorm !== null) {
    const clipped = clipGradNorm(grads, ctx.clipGradNorm);
    clipped.totalNorm.dispose();
    final = clipped.grads;
  }
  try {
    ctx.optimizer.step(final);
    ctx.ema.update(ctx.emaDecay);
  } finally {
    tf.dispose([...final.values()]);
  }
}

/**
 * One optimiser step over `microBatches` (gradient accumulation: gradients are averaged over the micro-batches,
 * i.e. the loss is divided by `accum_iter` — upstream forgets that, defect D21), then — with `distributed` — over
 * the ranks, loss included. Reads the loss and the gradient norm back (one sync) and throws
 * {@link NonFiniteLossError} before touching the weights if either is not finite (on every rank alike: they all
 * see the averaged values).
 */
export async function ditTrainStep(ctx: DiTStepContext, microBatches: readonly DiTBatch[], step = 0): Promise<StepResult> {
  if (microBatches.length === 0) throw new Error('ditTrainStep: no micro-batches');
  let sum: Gradients | null = null;
  try {
    for (const batch of microBatches) {
      const g = ditGradients(ctx, batch);
      if (!sum) sum = g;
      else {
        const prev: Gradients = sum;
        sum = { loss: tf.add(prev.loss, g.loss) as tf.Scalar, grads: new Map([...prev.grads].map(([n, t]) => [n, tf.add(t, g.grads.get(n)!)])) };
        tf.dispose([prev.loss, ...prev.grads.values(), g.loss, ...g.grads.values()]);
      }
    }
    const k = microBatches.length;
    const grads = k === 1 ? sum!.grads : new Map([...sum!.grads].map(([n, t]) => [n, tf.div(t, k)]));
    if (k > 1) tf.dispose([...sum!.grads.values()]);
    const meanLoss = tf.div(sum!.loss, k) as tf.Scalar;
    sum!.loss.dispose();
    sum = null;
    if (ctx.distributed) {
      const names = [...grads.keys()];
      const [loss, ...reduced] = await ctx.distributed.allReduceMean([meanLoss, ...grads.values()]);
      sum = { loss: loss as tf.Scalar, grads: new Map(names.map((n, i) => [n, reduced[i]])) };
    } else {
      sum = { loss: meanLoss, grads };
    }
    const norm = globalNorm(sum.grads.values());
    const [lossValue, normValue] = await Promise.all([sum.loss.data(), norm.data()]);
    norm.dispose();
    const result = { loss: lossValue[0], gradNorm: normValue[0] };
    if (!Number.isFinite(result.loss) || !Number.isFinite(result.gradNorm)) throw new NonFiniteLossError(step, result.loss, result.gradNorm);
    const owned = sum.grads;
    sum.loss.dispose();
    sum = null;
    applyDiTGradients(ctx, owned);
    return result;
  } finally {
    if (sum) tf.dispose([sum.loss, ...sum.grads.values()]);
  }
}
