/**
 * Classifier-free guidance schedules (reference `RectifiedFlow.sample`, `fn_v`), plus a guidance interval.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * A guidance schedule, parsed from the reference's `cfg_mode` strings:
 *
 * | string | schedule | velocity with `w = cfg` |
 * | --- | --- | --- |
 * | `constant` | `{kind: 'constant'}` | `v_u + w·(v_c − v_u)` |
 * | `late` | `{kind: 'late'}` | scale `w` when `(k+1)/S > 0.5`, else 1 |
 * | `early-X` | `{kind: 'early', threshold: X}` | scale `w` when the evaluation time `t > X`, else 1 |
 * | `linear` | `{kind: 'linear'}` | scale `1 + (w − 1)·(k+1)/S` |
 * | `cfg_star-N-R` | `{kind: 'cfg_star', zeroSteps: N, ratio: R}` | `−R·v_u` for steps `k < N`, then `(1 − w)·v_u + w·v_c` |
 *
 * `k` is the 0-based step index (every stage of a multi-stage step uses its step's `k`), `S` the step count.
 * Step-indexed schedules (`late`, `linear`, `cfg_star`) need a fixed-step solver.
 */
export type CfgSchedule =
  | { kind: 'constant' }
  | { kind: 'late' }
  | { kind: 'linear' }
  | { kind: 'early'; threshold: number }
  | { kind: 'cfg_star'; zeroSteps: number; ratio: number };

/** A `cfg_mode` string of the reference (`'constant'`, `'late'`, `'linear'`, `'early-0.5'`, `'cfg_star-1-0.5'`). */
export type CfgModeString = 'constant' | 'late' | 'linear' | `early-${string}` | `cfg_star-${string}`;

const NUMBER = '[-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?';
const EARLY = new RegExp(`^early-(${NUMBER})$`);
const CFG_STAR = new RegExp(`^cfg_star-([-+]?\\d+)-(${NUMBER})$`);

/** Parses a reference `cfg_mode` string (or passes a parsed schedule through); throws on unknown modes. */
export function parseCfgMode(mode: CfgModeString | string | CfgSchedule): CfgSchedule {
  if (typeof mode !== 'string') return mode;
  if (mode === 'constant' || mode === 'late' || mode === 'linear') return { kind: mode };
  let m = EARLY.exec(mode);
  if (m) return { kind: 'early', threshold: Number(m[1]) };
  m = CFG_STAR.exec(mode);
  if (m) return { kind: 'cfg_star', zeroSteps: Number(m[1]), ratio: Number(m[2]) };
  throw new Error(
    `unknown cfg mode '${mode}' (expected 'constant', 'late', 'linear', 'early-X' with X a number, or 'cfg_star-N-R' with N an integer and R a number)`,
  );
}

/** The reference string of a schedule (inverse of {@link parseCfgMode}). */
export function formatCfgMode(schedule: CfgSchedule): string {
  switch (schedule.kind) {
    case 'early':
      return `early-${schedule.threshold}`;
    case 'cfg_star':
      return `cfg_star-${schedule.zeroSteps}-${schedule.ratio}`;
    default:
      return schedule.kind;
  }
}

/** Whether a schedule depends on the step index (and so needs a fixed-step solver). */
export function isStepIndexed(schedule: CfgSchedule): boolean {
  return schedule.kind === 'late' || schedule.kind === 'linear' || schedule.kind === 'cfg_star';
}

/** Where one velocity evaluation happens. */
export interface GuidanceContext {
  /** Time of this evaluation (float32 value; `t_{k+1}` in a corrector stage). */
  t: number;
  /** 0-based index of the step this evaluation belongs to. */
  step: number;
  /** Number of steps of the fixed grid. */
  steps: number;
}

/**
 * How to combine the conditional and unconditional velocities at one evaluation: `v_u + scale·(v_c − v_u)` for
 * `'guided'`, `(1 − scale)·v_u + scale·v_c` for `'star'` (cfg_star after its first steps), `−ratio·v_u` for
 * `'unconditional'` (cfg_star's first steps). Each is evaluated in the reference's float32 operation order.
 */
export type GuidanceRule =
  | { kind: 'guided'; scale: number }
  | { kind: 'star'; scale: number }
  | { kind: 'unconditional'; ratio: number };

/** The rule a schedule prescribes at `ctx` for guidance scale `cfg` (formulas of {@link CfgSchedule}). */
export function guidanceRule(schedule: CfgSchedule, cfg: number, ctx: GuidanceContext): GuidanceRule {
  const progress = (ctx.step + 1) / ctx.steps;
  switch (schedule.kind) {
    case 'constant':
      return { kind: 'guided', scale: cfg };
    case 'late':
      return { kind: 'guided', scale: progress > 0.5 ? cfg : 1 };
    case 'early':
      return { kind: 'guided', scale: ctx.t > schedule.threshold ? cfg : 1 };
    case 'linear':
      return { kind: 'guided', scale: 1 + (cfg - 1) * progress };
    case 'cfg_star':
      return ctx.step < schedule.zeroSteps ? { kind: 'unconditional', ratio: schedule.ratio } : { kind: 'star', scale: cfg };
  }
}

/** Applies a {@link GuidanceRule} to the conditional `vc` and unconditional `vu` velocities (float32 tensor math). */
export function applyGuidance(rule: GuidanceRule, vc: tf.Tensor, vu: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    switch (rule.kind) {
      case 'guided':
        return tf.add(vu, tf.mul(rule.scale, tf.sub(vc, vu)));
      case 'star':
        return tf.add(tf.mul(1 - rule.scale, vu), tf.mul(rule.scale, vc));
      case 'unconditional':
        return tf.mul(tf.neg(vu), rule.ratio);
    }
  });
}

/** `t ∈ [lo, hi]`, the optional guidance interval (no interval: always inside). */
export function inGuidanceInterval(t: number, interval: readonly [number, number] | undefined): boolean {
  return !interval || (t >= interval[0] && t <= interval[1]);
}
