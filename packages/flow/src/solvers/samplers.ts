/**
 * ODE samplers for rectified flow: integrate `dz/dt = V(z, t)` from `t = 0` (noise) to `t = 1` (data), where `V`
 * is the model velocity with classifier-free guidance. Euler and Heun reproduce the reference
 * `RectifiedFlow.sample`; `midpoint` and `rk4` are fixed-step higher-order solvers and `dopri5` an adaptive
 * Dormand–Prince 5(4) solver.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type CfgModeString, type CfgSchedule, applyGuidance, formatCfgMode, guidanceRule, inGuidanceInterval } from '../guidance';
import { type SolverName, resolveSamplerSettings } from '../settings';
import { timeDeltas, timeSchedule } from '../schedule';
import { evalVelocity, type VelocityFn } from '../velocity';

/** Progress report after each (accepted) step. */
export interface StepInfo {
  /** Steps done so far (1-based). */
  step: number;
  /** Total steps; for `dopri5` the steps done plus an estimate of the remaining ones. */
  steps: number;
  /** Time reached (1 after the last step). */
  t: number;
  /** Model evaluations so far (a guided evaluation counts 2). */
  nfe: number;
  /** The state after this step. Owned by the sampler: valid until the callback's promise settles; clone to keep. */
  z: tf.Tensor;
  /**
   * The current estimate of the clean sample, `x̂₁ = z + (1 − t)·v̄` with `v̄` this step's mean velocity
   * `(z − z_prev) / (t − t_prev)`: for Euler exactly `z_prev + (1 − t_prev)·v(z_prev, t_prev)`, the one-step
   * prediction from the step's start. Computed when called; the tensor is the caller's to dispose.
   */
  x1(): tf.Tensor;
}

/** Options of {@link sample}. Defaults are those of the SVG sampling script (`sample_svg.py`). */
export interface SampleOptions<Y = tf.Tensor | undefined> {
  /** Conditioning for the model (e.g. int32 class labels `[B]`). */
  y?: Y;
  /** Null conditioning (e.g. labels filled with 1000); enables classifier-free guidance when given. */
  yNull?: Y;
  /** Number of steps of the time grid (default 25). Ignored by `dopri5`. */
  steps?: number;
  /** Guidance scale `w` (default 4); used only with `yNull`. */
  cfg?: number;
  /** Solver (default `'euler'`). */
  mode?: SolverName;
  /** Time shift of the grid (default 0.15, see {@link shiftTime}); ignored with `times` and by `dopri5`. */
  shift?: number;
  /** Guidance schedule, a reference `cfg_mode` string or a parsed {@link CfgSchedule} (default `'constant'`). */
  cfgMode?: CfgModeString | (string & {}) | CfgSchedule;
  /**
   * Apply guidance only when the evaluation time is in `[lo, hi]`; elsewhere the velocity is the conditional one
   * and the unconditional model is not evaluated. Default: everywhere (the reference behaviour).
   */
  guidanceInterval?: readonly [number, number];
  /** A custom increasing time grid from 0 to 1 (length `steps + 1`, like the reference's `custom_t_seq`). */
  times?: ArrayLike<number>;
  /** Error tolerances of `dopri5` (defaults `rtol = 1e-3`, `atol = 1e-3`). */
  tolerance?: { rtol?: number; atol?: number };
  /** Step limit of `dopri5`, accepted and rejected (default 1000). */
  maxSteps?: number;
  /** Called after every step; awaited before the next one. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Cancels sampling between steps (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Guided velocity at one evaluation: `(z, t, step) → v`, to be called inside a tidy. */
type Velocity = (z: tf.Tensor, t: number, step: number) => tf.Tensor;

/**
 * Samples from a rectified-flow model: integrates from the noise `z` at `t = 0` to `t = 1` and returns the final
 * state (a new tensor owned by the caller; `z` is left as is).
 *
 * The velocity at time `t` (float32 `[B]` tensor) and step `k` is `v_c = fn(z, t, y)` without `yNull`; with
 * `yNull` it combines `v_c` and `v_u = fn(z, t, yNull)` by the `cfgMode` schedule (two separate passes, as in
 * the reference). Euler: `z ← z + dt_k·V(z, t_k)`; Heun: predictor `z̃ = z + dt_k·V(z, t_k)`, then
 * `z ← z + 0.5·dt_k·(V(z, t_k) + V(z̃, t_{k+1}))`, both stages with step index `k`.
 *
 * For reproducible noise on any backend use {@link seededNormal}.
 */
export async function sample<Y = tf.Tensor | undefined>(fn: VelocityFn<Y>, z: tf.Tensor, options: SampleOptions<Y> = {}): Promise<tf.Tensor> {
  const guided = options.yNull !== undefined;
  const cfgMode = typeof options.cfgMode === 'object' ? formatCfgMode(options.cfgMode) : options.cfgMode;
  // Without yNull there is no guidance, so its settings cannot conflict with the solver.
  const { mode, cfg, shift, steps, schedule, guidanceInterval: interval } = resolveSamplerSettings({
    steps: options.times ? undefined : options.steps,
    cfg: guided ? options.cfg : undefined,
    mode: options.mode,
    shift: options.shift,
    cfgMode: guided ? cfgMode : undefined,
    guidanceInterval: options.guidanceInterval,
  });
  const batch = z.shape[0];
  if (z.rank < 1 || batch === undefined) throw new Error('z must have a batch axis');

  let nfe = 0;
  let gridSteps = 0;
  const velocity: Velocity = (state, t, step) => {
    const tt = tf.fill([batch], Math.fround(t), 'float32');
    const vc = evalVelocity(fn, state, tt, options.y as Y);
    nfe++;
    if (!guided || !inGuidanceInterval(Math.fround(t), interval)) return vc;
    const vu = evalVelocity(fn, state, tt, options.yNull as Y);
    nfe++;
    return applyGuidance(guidanceRule(schedule, cfg, { t: Math.fround(t), step, steps: gridSteps }), vc, vu);
  };

  // `previous` (the state at `tPrevious`) is alive while onStep runs: the solvers dispose it after `report`.
  const report = async (state: tf.Tensor, previous: tf.Tensor, tPrevious: number, step: number, steps: number, t: number): Promise<void> => {
    const x1 = () => tf.tidy(() => tf.add(state, tf.mul((1 - t) / (t - tPrevious), tf.sub(state, previous))));
    if (options.onStep) await options.onStep({ step, steps, t, nfe, z: state, x1 });
    if (options.signal) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      options.signal.throwIfAborted();
    }
  };

  options.signal?.throwIfAborted();
  if (mode === 'dopri5') return dopri5(velocity, z, options, report);

  const times = options.times ? checkTimes(options.times) : timeSchedule(steps, shift);
  const dts = timeDeltas(times);
  gridSteps = dts.length;
  const step = FIXED_STEPS[mode];
  let state = z;
  try {
    for (let k = 0; k < gridSteps; k++) {
      const next = tf.tidy(() => step(velocity, state, k, times[k], times[k + 1], dts[k]));
      const previous = state;
      state = next;
      try {
        await report(state, previous, times[k], k + 1, gridSteps, times[k + 1]);
      } finally {
        if (previous !== z) previous.dispose();
      }
    }
  } catch (e) {
    if (state !== z) state.dispose();
    throw e;
  }
  return state === z ? tf.clone(z) : state;
}

type FixedStep = (v: Velocity, z: tf.Tensor, k: number, t0: number, t1: number, dt: number) => tf.Tensor;

const FIXED_STEPS: Record<Exclude<SolverName, 'dopri5'>, FixedStep> = {
  euler: (v, z, k, t0, _t1, dt) => tf.add(z, tf.mul(dt, v(z, t0, k))),
  heun: (v, z, k, t0, t1, dt) => {
    const v0 = v(z, t0, k);
    const v1 = v(tf.add(z, tf.mul(dt, v0)), t1, k);
    return tf.add(z, tf.mul(0.5 * dt, tf.add(v0, v1)));
  },
  midpoint: (v, z, k, t0, _t1, dt) => {
    const v0 = v(z, t0, k);
    return tf.add(z, tf.mul(dt, v(tf.add(z, tf.mul(0.5 * dt, v0)), t0 + 0.5 * dt, k)));
  },
  rk4: (v, z, k, t0, t1, dt) => {
    const tm = t0 + 0.5 * dt;
    const k1 = v(z, t0, k);
    const k2 = v(tf.add(z, tf.mul(0.5 * dt, k1)), tm, k);
    const k3 = v(tf.add(z, tf.mul(0.5 * dt, k2)), tm, k);
    const k4 = v(tf.add(z, tf.mul(dt, k3)), t1, k);
    const sum = tf.addN([k1, tf.mul(2, k2), tf.mul(2, k3), k4]);
    return tf.add(z, tf.mul(dt / 6, sum));
  },
};

function checkTimes(times: ArrayLike<number>): Float32Array {
  const ts = Float32Array.from(times);
  if (ts.length < 2) throw new Error(`times needs at least 2 points, got ${ts.length}`);
  for (let i = 1; i < ts.length; i++) {
    if (!(ts[i] > ts[i - 1])) throw new Error(`times must increase strictly (times[${i - 1}] = ${ts[i - 1]}, times[${i}] = ${ts[i]})`);
  }
  return ts;
}

// Dormand–Prince 5(4): nodes, stage coefficients, 5th-order weights (= last stage row, FSAL) and error weights.
const DP_C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const DP_A = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
const DP_E = [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40];

async function dopri5<Y>(
  velocity: Velocity,
  z: tf.Tensor,
  options: SampleOptions<Y>,
  report: (state: tf.Tensor, previous: tf.Tensor, tPrevious: number, step: number, steps: number, t: number) => Promise<void>,
): Promise<tf.Tensor> {
  const rtol = options.tolerance?.rtol ?? 1e-3;
  const atol = options.tolerance?.atol ?? 1e-3;
  const maxSteps = options.maxSteps ?? 1000;
  if (!(rtol >= 0 && atol >= 0 && rtol + atol > 0)) throw new Error(`tolerance must be non-negative and not both 0 (rtol ${rtol}, atol ${atol})`);

  let state = z;
  let t = 0;
  let accepted = 0;
  let k1 = tf.tidy(() => velocity(z, 0, 0));
  try {
    // Initial step from the sizes of the state and of its velocity (Hairer, Nørsett & Wanner, II.4, simplified).
    const [d0, d1] = await Promise.all([rms(state, state, atol, rtol), rms(k1, state, atol, rtol)]);
    let h = d0 < 1e-5 || d1 < 1e-5 ? 1e-3 : Math.min(0.1, (0.01 * d0) / d1);
    for (let attempt = 0; t < 1; attempt++) {
      if (attempt >= maxSteps) throw new Error(`dopri5 needed more than ${maxSteps} steps (rtol ${rtol}, atol ${atol})`);
      options.signal?.throwIfAborted();
      h = Math.min(h, 1 - t);
      const last = t + h >= 1;
      const tNext = last ? 1 : t + h;
      const trial = tf.tidy(() => {
        const ks = [k1];
        for (let i = 1; i < 7; i++) {
          const incr = tf.addN(ks.map((ki, j) => tf.mul(h * DP_A[i][j], ki)));
          const zi = tf.add(state, incr);
          if (i === 6) {
            const k7 = velocity(zi, tNext, accepted);
            const err = tf.addN([...ks, k7].map((ki, j) => tf.mul(h * DP_E[j], ki)));
            return { zNext: zi, k7, errNorm: rmsTensor(err, state, zi, atol, rtol) };
          }
          ks.push(velocity(zi, i === 5 ? tNext : t + DP_C[i] * h, accepted));
        }
        throw new Error('unreachable');
      });
      const errNorm = (await trial.errNorm.data())[0];
      trial.errNorm.dispose();
      if (errNorm <= 1) {
        const previous = state;
        const tPrevious = t;
        k1.dispose();
        state = trial.zNext;
        k1 = trial.k7;
        t = tNext;
        accepted++;
        const factor = errNorm === 0 ? 10 : Math.min(10, Math.max(0.2, 0.9 * errNorm ** -0.2));
        h *= factor;
        try {
          await report(state, previous, tPrevious, accepted, accepted + (t < 1 ? Math.ceil((1 - t) / Math.min(h, 1 - t)) : 0), t);
        } finally {
          if (previous !== z) previous.dispose();
        }
      } else {
        trial.zNext.dispose();
        trial.k7.dispose();
        if (!Number.isFinite(errNorm)) throw new Error(`dopri5: non-finite error estimate at t = ${t}`);
        h *= Math.max(0.2, 0.9 * errNorm ** -0.2);
      }
    }
  } catch (e) {
    if (state !== z) state.dispose();
    k1.dispose();
    throw e;
  }
  k1.dispose();
  return state === z ? tf.clone(z) : state;
}

/** `sqrt(mean((err / (atol + rtol·max(|a|, |b|)))²))` as a scalar tensor. */
function rmsTensor(err: tf.Tensor, a: tf.Tensor, b: tf.Tensor, atol: number, rtol: number): tf.Scalar {
  return tf.tidy(() => {
    const scale = tf.add(atol, tf.mul(rtol, tf.maximum(tf.abs(a), tf.abs(b))));
    return tf.sqrt(tf.mean(tf.square(tf.div(err, scale)))) as tf.Scalar;
  });
}

async function rms(x: tf.Tensor, ref: tf.Tensor, atol: number, rtol: number): Promise<number> {
  const n = rmsTensor(x, ref, ref, atol, rtol);
  const value = (await n.data())[0];
  n.dispose();
  return value;
}
