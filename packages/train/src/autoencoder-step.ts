import * as tf from '@tensorflow/tfjs-core';
import type { LpipsWithDiscriminator, SvgAutoencoder } from '@svg/autoencoder';
import type { Distributed } from '@svg/distributed';
import type { Parameter } from '@svg/nn';
import { globalNorm } from './clip';
import { rankRows } from './data-parallel';
import { NonFiniteLossError } from './dit-step';
import type { Adam } from './optim';

/**
 * Everything one autoencoder training batch touches (no module-level state, so a data-parallel wrapper can reuse
 * the pieces): the SVG autoencoder (frozen DINOv3; residual ViT, mask token and decoder trained), the loss module
 * (frozen LPIPS, trained PatchGAN discriminator) and the two Adam optimisers.
 */
export interface AutoencoderStepContext {
  autoencoder: SvgAutoencoder;
  loss: LpipsWithDiscriminator;
  /** `Adam(decoder + extra_vit + mask_token, lr, betas = (0.5, 0.9))`. */
  optimizer: Adam;
  /** `Adam(discriminator, lr, betas = (0.5, 0.9))`. */
  discOptimizer: Adam;
  /**
   * The data-parallel job; absent: one process. Both optimisers' gradients (and the logged values) are averaged over
   * the ranks; as in upstream's DDP, the adaptive weight and the discriminator's BatchNorm statistics are per rank.
   */
  distributed?: Pick<Distributed, 'rank' | 'worldSize' | 'allReduceMean' | 'allReduceSum'>;
}

/** What one autoencoder batch reports: the upstream log keys (without `train/`) and gradient norms. */
export interface AutoencoderStepResult {
  /** `aeloss`, the generator loss `L_G`. */
  loss: number;
  /** Every logged value: total_loss, nll_loss, rec_loss, p_loss, d_weight, disc_factor, g_loss, disc_loss, logits_real, logits_fake, grad_norm, disc_grad_norm. */
  logs: Record<string, number>;
}

/**
 * One upstream training batch (spec §2.5), `batchIndex` counted from 0: the generator loss is evaluated at global
 * step `2·batchIndex` and the discriminator loss at `2·batchIndex + 1`, as Lightning counts with two optimisers
 * (defect D19, kept so that `disc_start` means what it means upstream).
 *
 * 1. `x̂ = decode(encode(x_in))` in training mode (mask token and dropout of the residual ViT active; DINOv3 and
 *    LPIPS in eval mode), `L_G` with the adaptive weight from `decoder.conv_out.weight`; Adam step on the autoencoder.
 * 2. `L_D` on `x` and the same `x̂` (detached); Adam step on the discriminator (its BatchNorms see real and fake
 *    batches in separate passes and update their running statistics).
 *
 * Throws {@link NonFiniteLossError} before an update whose loss or gradient norm is not finite.
 */
export async function autoencoderTrainStep(ctx: AutoencoderStepContext, images: tf.Tensor4D, batchIndex: number): Promise<AutoencoderStepResult> {
  const { autoencoder: ae, loss } = ctx;
  ae.train();
  loss.train();
  const logs: Record<string, tf.Scalar> = {};
  let reconstructions: tf.Tensor4D | null = null;
  const dist = ctx.distributed;
  const maskFlags = dist && dist.worldSize > 1 ? globalMaskFlags(ae, images.shape[0], dist) : undefined;
  const xIn = ae.normalizeImages(images);
  try {
    const gen = tf.variableGrads(() => {
      const enc = ae.encodeDetailed(xIn, maskFlags);
      tf.dispose([enc.patchTokens, enc.hVit, enc.hVitMatched].filter((t): t is tf.Tensor3D => t !== null));
      const features = ae.decoder.forwardFeatures(enc.latent);
      const xhat = ae.decoder.convOut.forward(features);
      const r = loss.generatorLoss({ inputs: images, reconstructions: xhat, lastLayerInput: features, step: 2 * batchIndex });
      for (const [k, v] of Object.entries(r.logs)) logs[k] = tf.keep(v);
      reconstructions = tf.keep(xhat);
      return r.loss;
    }, variables(ctx.optimizer.parameterNames, ae));
    const genGrads = await averaged(dist, renamed(gen.grads, ctx.optimizer.parameterNames, ae));
    const genNorm = globalNorm(genGrads.values());
    const [genLoss, genNormValue] = await Promise.all([gen.value.data(), genNorm.data()]);
    tf.dispose([gen.value, genNorm]);
    if (!Number.isFinite(genLoss[0]) || !Number.isFinite(genNormValue[0])) {
      tf.dispose([...genGrads.values()]);
      throw new NonFiniteLossError(batchIndex + 1, genLoss[0], genNormValue[0]);
    }
    ctx.optimizer.step(genGrads);
    tf.dispose([...genGrads.values()]);

    // x̂ is a constant here: the discriminator's gradients are taken with respect to its own variables only.
    const xhat = reconstructions!;
    const disc = tf.variableGrads(() => {
      const r = loss.discriminatorLoss({ inputs: images, reconstructions: xhat, step: 2 * batchIndex + 1 });
      for (const [k, v] of Object.entries(r.logs)) logs[k] = tf.keep(v);
      return r.loss;
    }, variables(ctx.discOptimizer.parameterNames, loss.discriminator));
    const discGrads = await averaged(dist, renamed(disc.grads, ctx.discOptimizer.parameterNames, loss.discriminator));
    const discNorm = globalNorm(discGrads.values());
    const [discLoss, discNormValue] = await Promise.all([disc.value.data(), discNorm.data()]);
    tf.dispose([disc.value, discNorm]);
    if (!Number.isFinite(discLoss[0]) || !Number.isFinite(discNormValue[0])) {
      tf.dispose([...discGrads.values()]);
      throw new NonFiniteLossError(batchIndex + 1, discLoss[0], discNormValue[0]);
    }
    ctx.discOptimizer.step(discGrads);
    tf.dispose([...discGrads.values()]);

    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(logs)) out[k] = (await v.data())[0];
    let lossValue = genLoss[0];
    if (dist && dist.worldSize > 1) {
      const keys = [...Object.keys(out), 'loss'];
      const sums = Float64Array.from([...Object.values(out), lossValue]);
      await dist.allReduceSum(sums);
      keys.forEach((k, i) => (out[k] = sums[i] / dist.worldSize));
      lossValue = out.loss;
      delete out.loss;
    }
    out.grad_norm = genNormValue[0];
    out.disc_grad_norm = discNormValue[0];
    return { loss: lossValue, logs: out };
  } finally {
    tf.dispose([xIn, ...Object.values(logs)]);
    if (reconstructions) (reconstructions as tf.Tensor).dispose();
  }
}

/** The mask decisions of the whole global batch from the shared `maskRandom`, this rank's rows (see `rankRows`). */
function globalMaskFlags(ae: SvgAutoencoder, batch: number, dist: Pick<Distributed, 'rank' | 'worldSize'>): boolean[] | undefined {
  if (!ae.maskToken) return undefined;
  const ratio = ae.config.extra_vit_config?.mask_ratio ?? 0;
  const rows = batch * dist.worldSize;
  const all = Uint8Array.from({ length: rows }, () => (ae.maskRandom.uniform() < ratio ? 1 : 0));
  return Array.from(rankRows(all, rows, 1, dist), (f) => f === 1);
}

/** Gradients averaged over the ranks (unchanged in one process). */
async function averaged(dist: AutoencoderStepContext['distributed'], grads: Map<string, tf.Tensor>): Promise<Map<string, tf.Tensor>> {
  if (!dist || dist.worldSize === 1) return grads;
  const names = [...grads.keys()];
  const reduced = await dist.allReduceMean([...grads.values()]);
  return new Map(names.map((n, i) => [n, reduced[i]]));
}

/** The variables of the named parameters of `module`, in the optimiser's order. */
function variables(names: string[], module: { namedParameters(): [string, Parameter][] }): tf.Variable[] {
  const params = new Map(module.namedParameters());
  return names.map((n) => {
    const p = params.get(n);
    if (!p) throw new Error(`optimizer parameter ${n} is not a parameter of the module`);
    return p.variable;
  });
}

/** `variableGrads`' result (by variable name) → by parameter name. */
function renamed(grads: tf.NamedTensorMap, names: string[], module: { namedParameters(): [string, Parameter][] }): Map<string, tf.Tensor> {
  const params = new Map(module.namedParameters());
  const out = new Map<string, tf.Tensor>();
  for (const n of names) {
    const g = grads[params.get(n)!.variable.name];
    if (g) out.set(n, g);
  }
  return out;
}
