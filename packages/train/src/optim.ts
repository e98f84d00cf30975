import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS, canFuse, fromTorchLayout, toTorchLayout, type Parameter } from '@svg/nn';
import type { RawTensor } from '@svg/weights';

/** Options of {@link AdamW} and {@link Adam} (PyTorch's argument names in camelCase). */
export interface AdamOptions {
  /** Learning rate (PyTorch default 1e-3). May be changed between steps through {@link AdamW.lr}. */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square (default `[0.9, 0.999]`). */
  betas?: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Weight decay: decoupled for {@link AdamW} (default 0.01), an L2 term added to the gradient for {@link Adam} (default 0). */
  weightDecay?: number;
}

/** One parameter's optimiser state: the step count and the two moments (our layout, owned by the optimiser). */
interface MomentState {
  step: number;
  expAvg: tf.Tensor;
  expAvgSq: tf.Tensor;
}

/**
 * `torch.optim.AdamW` (non-amsgrad, not maximising), step by step as PyTorch's single-tensor implementation does it,
 * in float32 with scalars computed in float64 on the host:
 *
 * ```
 * p      ← p · (1 − lr·wd)                                   (decoupled decay; Adam adds wd·p to g instead)
 * m      ← lerp(m, g, 1 − β1)                               (m + w·(g − m) if w < 0.5, else g − (g − m)·(1 − w))
 * v      ← v·β2 + (1 − β2)·g·g
 * denom  ← sqrt(v) / sqrt(1 − β2^t) + eps
 * p      ← p + (−lr / (1 − β1^t))·m / denom
 * ```
 *
 * Each parameter has its own step count `t`; a parameter without a gradient in a step is left alone (PyTorch's
 * `grad is None`). The state (moments in PyTorch layout, step counts) is saved and restored with
 * {@link AdamW.saveState} / {@link AdamW.loadState}, so a resumed run continues bit for bit.
 */
export class AdamW {
  /** Learning rate used by the next {@link step}. */
  lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** True for AdamW (decay applied to the weights), false for Adam (L2 term added to the gradient). */
  readonly decoupled: boolean = true;
  private readonly params: Map<string, Parameter>;
  private readonly state = new Map<string, MomentState>();

  /** `params`: the parameters to train, by name (e.g. `model.trainableParameters()`). */
  constructor(params: Iterable<readonly [string, Parameter]>, options: AdamOptions = {}) {
    this.params = new Map(params);
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? this.defaultWeightDecay();
    checkHyperparameters(this.lr, this.betas, this.eps, this.weightDecay);
    for (const [name, p] of this.params) {
      if (!p.trainable) throw new Error(`optimizer: parameter ${name} is frozen (not a tf.Variable)`);
    }
  }

  protected defaultWeightDecay(): number {
    return 0.01;
  }

  /** Names of the parameters this optimiser updates. */
  get parameterNames(): string[] {
    return [...this.params.keys()];
  }

  /** Step count of parameter `name` (0 before its first update). */
  stepCount(name: string): number {
    return this.state.get(name)?.step ?? 0;
  }

  /**
   * Applies one update from `grads` (by parameter name, our layout). Names without a gradient are skipped; unknown
   * names throw. The gradients are not disposed.
   */
  step(grads: ReadonlyMap<string, tf.Tensor>): void {
    for (const name of grads.keys()) {
      if (!this.params.has(name)) throw new Error(`optimizer: gradient for unknown parameter ${name}`);
    }
    const [beta1, beta2] = this.betas;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      if (!tf.util.arraysEqual(g.shape, p.shape)) {
        throw new Error(`optimizer: gradient of ${name} has shape [${g.shape}], parameter has [${p.shape}]`);
      }
      const s = this.stateFor(name, p);
      s.step += 1;
      const biasCorrection1 = 1 - beta1 ** s.step;
      const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** s.step);
      const stepSize = this.lr / biasCorrection1;
      const variable = p.variable;
      const decay = this.weightDecay !== 0 && this.decoupled ? 1 - this.lr * this.weightDecay : 1;
      const l2 = this.weightDecay !== 0 && !this.decoupled ? this.weightDecay : 0;
      const lerpWeight = 1 - beta1;
      const [param, expAvg, expAvgSq] = canFuse(FUSED_KERNELS.adamUpdate, variable)
        ? // One pass, bit for bit the composite below (same float32 operations in the same order).
          (tf.engine().runKernel(
            FUSED_KERNELS.adamUpdate,
            { w: variable, g, m: s.expAvg, v: s.expAvgSq },
            { constants: [decay, l2, lerpWeight, 1 - lerpWeight, Math.abs(lerpWeight) < 0.5 ? 1 : 0, beta2, 1 - beta2, biasCorrection2Sqrt, this.eps, -stepSize] },
          ) as tf.Tensor[])
        : tf.tidy(() => {
            let w: tf.Tensor = variable;
            let grad = g;
            if (decay !== 1) w = tf.mul(w, decay);
            if (l2 !== 0) grad = tf.add(grad, tf.mul(w, l2));
            const m = lerp(s.expAvg, grad, lerpWeight);
            const v = tf.add(tf.mul(s.expAvgSq, beta2), tf.mul(tf.mul(grad, 1 - beta2), grad));
            const denom = tf.add(tf.div(tf.sqrt(v), biasCorrection2Sqrt), this.eps);
            return [tf.add(w, tf.div(tf.mul(m, -stepSize), denom)), m, v];
          });
      variable.assign(param);
      param.dispose();
      s.expAvg.dispose();
      s.expAvgSq.dispose();
      s.expAvg = expAvg;
      s.expAvgSq = expAvgSq;
    }
  }

  /**
   * The state as tensors in PyTorch layout: `exp_avg.<name>`, `exp_avg_sq.<name>` (float32) and `step.<name>`
   * (a float32 scalar, as PyTorch keeps it), for every parameter updated at least once.
   */
  async saveState(): Promise<Map<string, RawTensor>> {
    const out = new Map<string, RawTensor>();
    for (const [name, s] of this.state) {
      const p = this.params.get(name)!;
      out.set(`exp_avg.${name}`, await momentToTorch(p, s.expAvg));
      out.set(`exp_avg_sq.${name}`, await momentToTorch(p, s.expAvgSq));
      out.set(`step.${name}`, { dtype: 'F32', shape: [], data: new Float32Array([s.step]) });
    }
    return out;
  }

  /** Restores a state written by {@link saveState}; throws naming any parameter that does not fit. */
  loadState(tensors: ReadonlyMap<string, RawTensor>): void {
    const next = new Map<string, MomentState>();
    try {
      for (const key of tensors.keys()) {
        const match = /^(exp_avg|exp_avg_sq|step)\.(.+)$/.exec(key);
        if (!match) throw new Error(`optimizer state: unexpected key ${key}`);
        const name = match[2];
        const p = this.params.get(name);
        if (!p) throw new Error(`optimizer state: parameter ${name} is not optimised by this optimizer`);
        if (next.has(name)) continue;
        const step = tensors.get(`step.${name}`);
        const m = tensors.get(`exp_avg.${name}`);
        const v = tensors.get(`exp_avg_sq.${name}`);
        if (!step || !m || !v) throw new Error(`optimizer state: ${name} needs exp_avg, exp_avg_sq and step`);
        next.set(name, { step: Number(step.data[0]), expAvg: momentFromTorch(p, m, `exp_avg.${name}`), expAvgSq: momentFromTorch(p, v, `exp_avg_sq.${name}`) });
      }
    } catch (e) {
      for (const s of next.values()) tf.dispose([s.expAvg, s.expAvgSq]);
      throw e;
    }
    this.disposeState();
    for (const [name, s] of next) this.state.set(name, s);
  }

  /** Frees the moments. */
  dispose(): void {
    this.disposeState();
  }

  private disposeState(): void {
    for (const s of this.state.values()) tf.dispose([s.expAvg, s.expAvgSq]);
    this.state.clear();
  }

  private stateFor(name: string, p: Parameter): MomentState {
    let s = this.state.get(name);
    if (!s) {
      s = { step: 0, expAvg: tf.keep(tf.zeros(p.shape)), expAvgSq: tf.keep(tf.zeros(p.shape)) };
      this.state.set(name, s);
    }
    return s;
  }
}

/**
 * `torch.optim.Adam`: as {@link AdamW}, but weight decay (default 0) is an L2 term `wd·p` added to the gradient.
 * The SVG autoencoder and its discriminator train with `Adam(lr=1e-4, betas=(0.5, 0.9))`.
 */
export class Adam extends AdamW {
  override readonly decoupled: boolean = false;

  protected override defaultWeightDecay(): number {
    return 0;
  }
}

/** PyTorch's `lerp`: `a + w·(b − a)` for `|w| < 0.5`, else `b − (b − a)·(1 − w)` (exact at both ends). */
function lerp(a: tf.Tensor, b: tf.Tensor, w: number): tf.Tensor {
  return Math.abs(w) < 0.5 ? tf.add(a, tf.mul(tf.sub(b, a), w)) : tf.sub(b, tf.mul(tf.sub(b, a), 1 - w));
}

function checkHyperparameters(lr: number, betas: readonly [number, number], eps: number, weightDecay: number): void {
  if (!(lr >= 0)) throw new Error(`optimizer: invalid learning rate ${lr}`);
  if (!(eps >= 0)) throw new Error(`optimizer: invalid eps ${eps}`);
  betas.forEach((b, i) => {
    if (!(b >= 0 && b < 1)) throw new Error(`optimizer: invalid beta${i + 1} ${b} (must be in [0, 1))`);
  });
  if (!(weightDecay >= 0)) throw new Error(`optimizer: invalid weight decay ${weightDecay}`);
}

/** An optimiser moment (shaped like parameter `p`) as float32 in PyTorch's layout, to save next to the weights. */
async function momentToTorch(p: Parameter, t: tf.Tensor): Promise<RawTensor> {
  const torch = tf.tidy(() => toTorchLayout(p, t));
  const data = (await torch.data()) as Float32Array;
  torch.dispose();
  return { dtype: 'F32', shape: p.torchShape, data };
}

/** The inverse of {@link momentToTorch}: a kept tensor in our layout. `key` names the tensor in errors. */
function momentFromTorch(p: Parameter, raw: RawTensor, key: string): tf.Tensor {
  const expected = p.torchShape;
  if (raw.shape.length !== expected.length || raw.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${key}: expected shape [${expected}], got [${raw.shape}]`);
  }
  return tf.keep(fromTorchLayout(p, raw));
}
