/**
 * The settings of a sampling run, once: the solvers, the defaults (those of the SVG sampling script), the accepted
 * ranges, and the one validator that `sample`, `@svg/generate`, the `svg` CLI and the sampler page all use.
 */
import { type CfgSchedule, formatCfgMode, isStepIndexed, parseCfgMode } from './guidance';

/** Available solvers and their order of accuracy (velocity evaluations per step, before guidance doubling). */
export const SOLVERS = {
  /** Explicit Euler, order 1, 1 evaluation per step (reference `euler`). */
  euler: { order: 1, stages: 1 },
  /** Heun's method (explicit trapezoid), order 2, 2 evaluations per step (reference `heun`). */
  heun: { order: 2, stages: 2 },
  /** Explicit midpoint, order 2, 2 evaluations per step. */
  midpoint: { order: 2, stages: 2 },
  /** Classic Runge–Kutta, order 4, 4 evaluations per step. */
  rk4: { order: 4, stages: 4 },
  /** Adaptive Dormand–Prince 5(4) with error control (`tolerance`), about 6 evaluations per accepted step. */
  dopri5: { order: 5, stages: 6 },
} as const;

/** A solver name, see {@link SOLVERS}. */
export type SolverName = keyof typeof SOLVERS;

/** What a user sets for one sampling run (a CLI's flags, a page's form, a model folder's defaults). */
export interface SamplerSettings {
  /** Steps of the time grid; ignored (and not checked) with `dopri5`. */
  steps: number;
  /** Guidance scale `w`; 1 means no guidance. */
  cfg: number;
  /** Solver. */
  mode: SolverName;
  /** Time shift of the grid (see `shiftTime`). */
  shift: number;
  /** Guidance schedule, a reference `cfg_mode` string (see `parseCfgMode`). */
  cfgMode: string;
  /** Apply guidance only for `t` in `[lo, hi]`; absent: everywhere. */
  guidanceInterval?: readonly [number, number];
}

/** SVG sampling defaults (`sample_svg.py`): 25 Euler steps, cfg 4 (constant), shift 0.15. */
export const SAMPLE_DEFAULTS = { steps: 25, cfg: 4, mode: 'euler', shift: 0.15, cfgMode: 'constant' } as const satisfies SamplerSettings;

/** Accepted ranges: steps an integer in [min, max], cfg in [min, max], shift in (0, max]. */
export const SAMPLER_LIMITS = {
  steps: { min: 1, max: 10_000 },
  /** Guidance scales beyond 100 are surely typos (they saturate every image). */
  cfg: { min: 0, max: 100 },
  shift: { max: 1000 },
} as const;

/** How each setting is named in messages. */
const LABELS: Record<keyof SamplerSettings, string> = { steps: 'steps', cfg: 'cfg', mode: 'sampler', shift: 'shift', cfgMode: 'cfg mode', guidanceInterval: 'guidance interval' };

/**
 * A setting that is out of range or unknown. `setting` names it and `requirement` says what it needs, so a front
 * end can word the message with its own name for it: `format('--steps', '0')` → `--steps must be an integer in
 * [1, 10000], got "0"`.
 */
export class SamplerSettingsError extends RangeError {
  override name = 'SamplerSettingsError';
  constructor(
    readonly setting: keyof SamplerSettings,
    readonly requirement: string,
    /** The value as shown in the message (absent when the problem is not one value, e.g. a solver and schedule that conflict). */
    readonly value?: string,
  ) {
    super(formatProblem(LABELS[setting], requirement, value));
  }

  /** The message with `name` for the setting and, when given, `raw` (the user's text) for the value. */
  format(name: string, raw?: string): string {
    return formatProblem(name, this.requirement, this.value === undefined ? undefined : raw !== undefined ? `"${raw}"` : this.value);
  }
}

function formatProblem(name: string, requirement: string, value: string | undefined): string {
  return `${name}${requirement.startsWith(':') ? '' : ' '}${requirement}${value === undefined ? '' : `, got ${value}`}`;
}

/**
 * Fills the settings not given from `defaults` (then {@link SAMPLE_DEFAULTS}) and checks them all; throws a
 * {@link SamplerSettingsError} whose message names the setting and says what it needs, e.g.
 * `steps must be an integer in [1, 10000], got 0`. Also returns the parsed guidance schedule.
 */
export function resolveSamplerSettings(given: Partial<SamplerSettings> = {}, defaults: Partial<SamplerSettings> = {}): SamplerSettings & { schedule: CfgSchedule } {
  const pick = <K extends keyof SamplerSettings>(k: K): SamplerSettings[K] => (given[k] ?? defaults[k] ?? (SAMPLE_DEFAULTS as Partial<SamplerSettings>)[k]) as SamplerSettings[K];
  const s: SamplerSettings = { steps: pick('steps'), cfg: pick('cfg'), mode: pick('mode'), shift: pick('shift'), cfgMode: pick('cfgMode') };
  const interval = pick('guidanceInterval');
  if (interval !== undefined) s.guidanceInterval = interval;
  const fail = (setting: keyof SamplerSettings, requirement: string, value?: unknown): never => {
    throw new SamplerSettingsError(setting, requirement, value === undefined ? undefined : typeof value === 'string' ? `"${value}"` : String(value));
  };
  const { steps, cfg, shift } = SAMPLER_LIMITS;
  if (!Object.prototype.hasOwnProperty.call(SOLVERS, s.mode)) fail('mode', `must be one of ${Object.keys(SOLVERS).join(', ')}`, s.mode);
  const stepsOk = Number.isInteger(s.steps) && s.steps >= steps.min && s.steps <= steps.max;
  if (!stepsOk && s.mode !== 'dopri5') fail('steps', `must be an integer in [${steps.min}, ${steps.max}]`, s.steps);
  if (!(Number.isFinite(s.cfg) && s.cfg >= cfg.min && s.cfg <= cfg.max)) fail('cfg', `must be a number in [${cfg.min}, ${cfg.max}]`, s.cfg);
  if (!(Number.isFinite(s.shift) && s.shift > 0 && s.shift <= shift.max)) fail('shift', `must be a number in (0, ${shift.max}]`, s.shift);
  let schedule: CfgSchedule;
  try {
    schedule = parseCfgMode(s.cfgMode);
  } catch (e) {
    return fail('cfgMode', `: ${(e as Error).message}`);
  }
  // dopri5 picks its own steps, so a schedule over step indices has nothing to follow (cfg 1: no guidance at all).
  if (s.mode === 'dopri5' && isStepIndexed(schedule) && s.cfg !== 1) {
    fail('cfgMode', `${formatCfgMode(schedule)} follows the step index, which the adaptive dopri5 sampler has not: use the sampler euler, heun, midpoint or rk4, or the cfg mode constant or early-X with dopri5`);
  }
  if (interval !== undefined) {
    const ok = interval.length === 2 && interval.every(Number.isFinite) && interval[0] <= interval[1];
    if (!ok) fail('guidanceInterval', 'must be lo,hi with lo <= hi', interval.join(','));
  }
  return { ...s, schedule };
}
