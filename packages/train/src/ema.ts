import * as tf from '@tensorflow/tfjs-core';
import type { Module, Parameter } from '@svg/nn';

/**
 * Exponential moving average of a model's parameters and buffers, kept in a second module of the same
 * architecture (`shadow`, e.g. a second `new DiT(config)`), which can then sample or be saved directly.
 * As `train_svg.py`'s `update_ema`: `ema ← ema·decay + p·(1 − decay)` for every named parameter (frozen ones such
 * as `pos_embed` included) and buffer; the shadow is frozen and always in eval mode.
 */
export class Ema<M extends Module = Module> {
  private readonly pairs: [string, Parameter, Parameter][];

  /** Pairs the parameters by name and initialises the shadow to a copy of `model` (upstream `update_ema(decay=0)`). */
  constructor(
    readonly model: Module,
    readonly shadow: M,
  ) {
    const shadowParams = new Map(shadow.namedParameters());
    const names = model.namedParameters().map(([n]) => n);
    const missing = names.filter((n) => !shadowParams.has(n));
    const extra = [...shadowParams.keys()].filter((n) => !names.includes(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new Error(`EMA model does not match the model (missing: ${missing.slice(0, 5).join(', ') || '-'}; extra: ${extra.slice(0, 5).join(', ') || '-'})`);
    }
    this.pairs = model.namedParameters().map(([n, p]) => {
      const e = shadowParams.get(n)!;
      if (!tf.util.arraysEqual(e.shape, p.shape)) throw new Error(`EMA model: ${n} has shape [${e.shape}], the model [${p.shape}]`);
      return [n, p, e];
    });
    shadow.setTrainable(false);
    shadow.eval();
    this.update(0);
  }

  /** `ema ← ema·decay + p·(1 − decay)`; `decay = 0` copies the model exactly. */
  update(decay: number): void {
    if (!(decay >= 0 && decay <= 1)) throw new Error(`EMA decay must be in [0, 1], got ${decay}`);
    for (const [, p, e] of this.pairs) {
      const next = decay === 0 ? tf.clone(p.value) : tf.tidy(() => tf.add(tf.mul(e.value, decay), tf.mul(p.value, 1 - decay)));
      e.set(next);
    }
  }
}
