import * as tf from '@tensorflow/tfjs-core';
import { Module, type Parameter, init } from '@svg/nn';
import { NLayerDiscriminator } from './discriminator';
import { Lpips } from './lpips';

/**
 * `lossconfig.params` of the upstream YAML (`LPIPSWithDiscriminatorDecoder` arguments, spec §2.1). SVG sets only
 * `disc_start: 5001` and `disc_weight: 0.5`; the rest keep these defaults. `pixelloss_weight`, `distmat_*` and
 * `cos_weight` are accepted and unused, as upstream (D16).
 */
export interface SvgLossConfig {
  disc_start: number;
  logvar_init?: number;
  pixelloss_weight?: number;
  disc_num_layers?: number;
  disc_in_channels?: number;
  disc_factor?: number;
  disc_weight?: number;
  perceptual_weight?: number;
  /** Only `false` (BatchNorm) is supported. */
  use_actnorm?: boolean;
  /** Only `false` is supported. */
  disc_conditional?: boolean;
  disc_loss?: 'hinge' | 'vanilla';
  [key: string]: unknown;
}

/** taming's `adopt_weight`: `value` before `threshold` steps, `weight` from then on. */
export function adoptWeight(weight: number, step: number, threshold: number, value = 0): number {
  return step < threshold ? value : weight;
}

/** Hinge discriminator loss `0.5·(mean(relu(1 − real)) + mean(relu(1 + fake)))`. */
export function hingeDLoss(logitsReal: tf.Tensor, logitsFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.add(tf.mean(tf.relu(tf.sub(1, logitsReal))), tf.mean(tf.relu(tf.add(1, logitsFake))))) as tf.Scalar);
}

/** Vanilla (non-saturating) discriminator loss `0.5·(mean(softplus(−real)) + mean(softplus(fake)))`. */
export function vanillaDLoss(logitsReal: tf.Tensor, logitsFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.add(tf.mean(tf.softplus(tf.neg(logitsReal))), tf.mean(tf.softplus(logitsFake)))) as tf.Scalar);
}

/**
 * Gradient of a loss with respect to the weight of a stride-1 conv, from the conv's input `x` `[B, H, W, Cin]` and
 * the loss gradient at its output `dy` `[B, H', W', Cout]`: `[k, k, Cin, Cout]` (our kernel layout). Written as k²
 * matrix products so it runs on every backend (wasm has no Conv2DBackpropFilter).
 */
export function convWeightGradient(x: tf.Tensor4D, dy: tf.Tensor4D, kernelSize: number, padding: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, ho, wo, cout] = dy.shape;
    const cin = x.shape[3];
    const padded = padding > 0 ? tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]]) : x;
    const g = tf.reshape(dy, [b * ho * wo, cout]) as tf.Tensor2D;
    const taps: tf.Tensor[] = [];
    for (let u = 0; u < kernelSize; u++) {
      for (let v = 0; v < kernelSize; v++) {
        const window = tf.reshape(tf.slice(padded, [0, u, v, 0], [b, ho, wo, cin]), [b * ho * wo, cin]) as tf.Tensor2D;
        taps.push(tf.matMul(window, g, true, false));
      }
    }
    return tf.reshape(tf.stack(taps), [kernelSize, kernelSize, cin, cout]) as tf.Tensor4D;
  });
}

/**
 * The adaptive discriminator weight (spec §2.4):
 * `clamp(‖∇W nll‖₂ / (‖∇W g‖₂ + 1e-4), 0, 1e4) · discWeight`, from the two gradients w.r.t. the last layer W.
 */
export function adaptiveWeight(nllGrad: tf.Tensor, gGrad: tf.Tensor, discWeight: number): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.clipByValue(tf.div(tf.norm(nllGrad), tf.add(tf.norm(gGrad), 1e-4)), 0, 1e4), discWeight) as tf.Scalar);
}

/** Arguments of {@link LpipsWithDiscriminator.generatorLoss}. */
export interface GeneratorLossArgs {
  /** Real images `x`, NHWC in [-1, 1]. */
  inputs: tf.Tensor4D;
  /** Decoder output `x̂` (unclamped), NHWC. */
  reconstructions: tf.Tensor4D;
  /**
   * The input of the decoder's last layer (`decoder.conv_out`, a 3×3 conv with padding 1): the output of
   * `LdmDecoder.forwardFeatures`, with `reconstructions = conv_out(lastLayerInput)`. Needed for the adaptive weight;
   * without it `d_weight` is 0 (upstream's fallback, legal only in evaluation).
   */
  lastLayerInput?: tf.Tensor4D;
  /** Global step as upstream counts it (Lightning's `global_step`, which advances by 2 per batch: D19). */
  step: number;
}

/** Arguments of {@link LpipsWithDiscriminator.discriminatorLoss}. */
export interface DiscriminatorLossArgs {
  inputs: tf.Tensor4D;
  reconstructions: tf.Tensor4D;
  step: number;
}

/**
 * A loss and its logged values (upstream's log keys without the split prefix). The logs are `tf.keep`-ed so that
 * they survive the `tf.variableGrads` the loss is computed in: dispose them yourself.
 */
export interface LossResult {
  loss: tf.Scalar;
  logs: Record<string, tf.Scalar>;
}

/**
 * SVG's autoencoder objective (`LPIPSWithDiscriminatorDecoder` on taming's LPIPS and PatchGAN, spec §2.2–2.4):
 * reconstruction `nll = Σ(|x − x̂| + LPIPS) / B` (sum over pixels, per batch element), plus the adversarial term
 * weighted adaptively from last-layer gradient norms once `disc_start` is reached; the discriminator trains with the
 * hinge (or vanilla) loss. Keys as `loss.*` of a training checkpoint (`logvar`, `perceptual_loss.*`,
 * `discriminator.main.*`). LPIPS is frozen; `logvar` is frozen at its init (it is in no optimiser upstream, D16).
 */
export class LpipsWithDiscriminator extends Module {
  readonly config: Readonly<Required<Pick<SvgLossConfig, 'disc_start' | 'logvar_init' | 'disc_num_layers' | 'disc_in_channels' | 'disc_factor' | 'disc_weight' | 'perceptual_weight' | 'disc_loss'>>>;
  readonly logvar: Parameter;
  readonly perceptualLoss: Lpips;
  readonly discriminator: NLayerDiscriminator;

  constructor(config: SvgLossConfig) {
    super();
    if (config.use_actnorm) throw new Error('loss config: use_actnorm=true (ActNorm discriminator) is not supported');
    if (config.disc_conditional) throw new Error('loss config: disc_conditional=true is not supported');
    const discLoss = config.disc_loss ?? 'hinge';
    if (discLoss !== 'hinge' && discLoss !== 'vanilla') throw new Error(`loss config: disc_loss must be 'hinge' or 'vanilla', got '${discLoss}'`);
    this.config = Object.freeze({
      disc_start: config.disc_start,
      logvar_init: config.logvar_init ?? 0,
      disc_num_layers: config.disc_num_layers ?? 3,
      disc_in_channels: config.disc_in_channels ?? 3,
      disc_factor: config.disc_factor ?? 1,
      disc_weight: config.disc_weight ?? 1,
      perceptual_weight: config.perceptual_weight ?? 1,
      disc_loss: discLoss,
    });
    const c = this.config;
    this.logvar = this.param('logvar', [], init.constant(c.logvar_init), { trainable: false });
    this.perceptualLoss = this.child('perceptual_loss', new Lpips());
    this.discriminator = this.child('discriminator', new NLayerDiscriminator({ inputChannels: c.disc_in_channels, nLayers: c.disc_num_layers }));
  }

  /** LPIPS stays in eval mode; the discriminator follows `mode` (BatchNorm batch statistics in training). */
  override train(mode = true): this {
    super.train(mode);
    this.perceptualLoss.eval();
    return this;
  }

  /**
   * The reconstruction term: `nll = Σ_{b,c,i,j} (|x − x̂| + w_p·LPIPS_b) / exp(logvar) + logvar`, divided by B;
   * with the mean L1+LPIPS (`rec_loss`, the validation monitor) and mean LPIPS (`p_loss`).
   */
  reconstructionLoss(inputs: tf.Tensor4D, reconstructions: tf.Tensor4D): { nll: tf.Scalar; recLoss: tf.Scalar; pLoss: tf.Scalar } {
    return tf.tidy(() => {
      const [b, h, w, c] = inputs.shape;
      const perSample = h * w * c;
      const l1 = tf.abs(tf.sub(inputs, reconstructions));
      const p = this.config.perceptual_weight > 0 ? this.perceptualLoss.forward(inputs, reconstructions) : tf.zeros([b]);
      const recSum = tf.add(tf.sum(l1), tf.mul(tf.sum(p), this.config.perceptual_weight * perSample));
      const logvar = this.logvar.value;
      const nllSum = tf.add(tf.mul(recSum, tf.exp(tf.neg(logvar))), tf.mul(logvar, b * perSample));
      return {
        nll: tf.div(nllSum, b) as tf.Scalar,
        recLoss: tf.div(recSum, b * perSample) as tf.Scalar,
        pLoss: tf.mean(p) as tf.Scalar,
      };
    });
  }

  /**
   * The generator (autoencoder) loss `L_G = nll + d_weight · disc_factor(step) · g_loss`, `g_loss = −mean(D(x̂))`.
   * `d_weight` is computed from the gradients of `nll` and `g_loss` w.r.t. `decoder.conv_out.weight` and is a
   * constant for differentiation (detached), as upstream. Differentiable w.r.t. `reconstructions`: call it inside
   * `tf.variableGrads` over the autoencoder's variables. The discriminator runs once (in training mode it updates its
   * BatchNorm statistics, as upstream). `logs`: total_loss, logvar, nll_loss, rec_loss, p_loss, d_weight,
   * disc_factor (the factor in effect), g_loss.
   */
  generatorLoss(args: GeneratorLossArgs): LossResult {
    const { inputs, reconstructions: xhat, lastLayerInput, step } = args;
    const discFactor = adoptWeight(this.config.disc_factor, step, this.config.disc_start);
    let recTerms: { nll: tf.Scalar; recLoss: tf.Scalar; pLoss: tf.Scalar } | null = null;
    const nllGrad = tf.valueAndGrad((r: tf.Tensor) => {
      recTerms = this.reconstructionLoss(inputs, r as tf.Tensor4D);
      tf.keep(recTerms.recLoss);
      tf.keep(recTerms.pLoss);
      return recTerms.nll;
    })(xhat);
    const { recLoss, pLoss } = recTerms!;
    const gGrad = tf.valueAndGrad((r: tf.Tensor) => tf.neg(tf.mean(this.discriminator.forward(r as tf.Tensor4D))) as tf.Scalar)(xhat);
    const [dWeight, total, combinedGrad] = tf.tidy(() => {
      const w = lastLayerInput
        ? adaptiveWeight(
            convWeightGradient(lastLayerInput, nllGrad.grad as tf.Tensor4D, 3, 1),
            convWeightGradient(lastLayerInput, gGrad.grad as tf.Tensor4D, 3, 1),
            this.config.disc_weight,
          )
        : tf.scalar(0);
      const factor = tf.mul(w, discFactor);
      return [w, tf.add(nllGrad.value, tf.mul(factor, gGrad.value)), tf.add(nllGrad.grad, tf.mul(gGrad.grad, factor))];
    });
    const withGradient = tf.customGrad((...xs: (tf.Tensor | tf.GradSaveFunc)[]) => {
      (xs[1] as tf.GradSaveFunc)([combinedGrad]);
      return { value: tf.clone(total), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
    });
    const loss = withGradient(xhat) as tf.Scalar;
    // Kept: the logs must outlive a surrounding tf.variableGrads / tf.tidy (the caller disposes them).
    const logs = keepAll({
      total_loss: tf.clone(total) as tf.Scalar,
      logvar: tf.clone(this.logvar.value) as tf.Scalar,
      nll_loss: nllGrad.value as tf.Scalar,
      rec_loss: recLoss,
      p_loss: pLoss,
      d_weight: dWeight as tf.Scalar,
      disc_factor: tf.scalar(discFactor),
      g_loss: gGrad.value as tf.Scalar,
    });
    tf.dispose([nllGrad.grad, gGrad.grad, total, combinedGrad]);
    return { loss, logs };
  }

  /**
   * The discriminator loss `disc_factor(step) · d_loss(D(x), D(x̂))` with real and fake batches in separate forward
   * passes (so training-mode BatchNorm sees each batch alone), `x̂` treated as a constant. Call it inside
   * `tf.variableGrads` over the discriminator's variables. `logs`: disc_loss, logits_real, logits_fake (means).
   */
  discriminatorLoss(args: DiscriminatorLossArgs): LossResult {
    const discFactor = adoptWeight(this.config.disc_factor, args.step, this.config.disc_start);
    return tf.tidy(() => {
      const logitsReal = this.discriminator.forward(args.inputs);
      const logitsFake = this.discriminator.forward(args.reconstructions);
      const dLoss = this.config.disc_loss === 'hinge' ? hingeDLoss(logitsReal, logitsFake) : vanillaDLoss(logitsReal, logitsFake);
      const loss = tf.mul(dLoss, discFactor) as tf.Scalar;
      return {
        loss,
        logs: keepAll({ disc_loss: tf.clone(loss) as tf.Scalar, logits_real: tf.mean(logitsReal) as tf.Scalar, logits_fake: tf.mean(logitsFake) as tf.Scalar }),
      };
    });
  }
}

function keepAll(logs: Record<string, tf.Scalar>): Record<string, tf.Scalar> {
  for (const t of Object.values(logs)) tf.keep(t);
  return logs;
}
