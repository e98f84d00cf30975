import { type CfgSchedule, type SamplerSettings, SamplerSettingsError, resolveSamplerSettings } from '@svg/flow';
import { CliError } from './cli-error';

/** The flag of each sampler setting. */
const FLAGS: Record<keyof SamplerSettings, string> = { steps: 'steps', cfg: 'cfg', shift: 'shift', mode: 'sampler', cfgMode: 'cfg-mode', guidanceInterval: 'guidance-interval' };

/**
 * The sampler settings of `svg sample` and `svg eval`: the flags over `defaults` (a model folder's), checked by
 * @svg/flow's one validator; a bad value fails naming the flag and the text typed, e.g.
 * `--steps must be an integer in [1, 10000], got "0"`.
 */
export function samplerFlags(values: Record<string, unknown>, defaults: Partial<SamplerSettings> = {}): SamplerSettings & { schedule: CfgSchedule } {
  const text = (flag: string) => values[flag] as string | undefined;
  const number = (flag: string): number | undefined => {
    const v = text(flag);
    if (v === undefined) return undefined;
    const n = v.trim() === '' ? Number.NaN : Number(v);
    if (Number.isNaN(n)) throw new CliError(`--${flag} must be a number, got "${v}"`);
    return n;
  };
  const interval = text('guidance-interval')?.split(',').map((p) => (p.trim() === '' ? Number.NaN : Number(p)));
  const given: Partial<SamplerSettings> = {
    steps: number('steps'),
    cfg: number('cfg'),
    shift: number('shift'),
    mode: text('sampler') as SamplerSettings['mode'] | undefined,
    cfgMode: text('cfg-mode'),
    guidanceInterval: interval as [number, number] | undefined,
  };
  try {
    return resolveSamplerSettings(given, defaults);
  } catch (e) {
    if (!(e instanceof SamplerSettingsError)) throw e;
    const flag = FLAGS[e.setting];
    throw new CliError(e.format(`--${flag}`, text(flag)));
  }
}
