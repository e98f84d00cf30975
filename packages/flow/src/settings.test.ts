import { describe, expect, it } from 'vitest';
import { SAMPLE_DEFAULTS, SamplerSettingsError, resolveSamplerSettings } from './settings';

describe('resolveSamplerSettings', () => {
  it('fills what is not given from the defaults given, then from the SVG defaults', () => {
    const { schedule, ...s } = resolveSamplerSettings({ steps: 5 }, { steps: 50, cfg: 2, shift: 1 });
    expect(s).toEqual({ ...SAMPLE_DEFAULTS, steps: 5, cfg: 2, shift: 1 });
    expect(schedule).toEqual({ kind: 'constant' });
    expect(resolveSamplerSettings({ guidanceInterval: [0.1, 0.9] }).guidanceInterval).toEqual([0.1, 0.9]);
  });

  it('names the setting and what it needs in a one-line error', () => {
    const cases: [Parameters<typeof resolveSamplerSettings>[0], string, RegExp][] = [
      [{ steps: 2.5 }, 'steps', /^steps must be an integer in \[1, 10000\], got 2.5$/],
      [{ steps: 10_001 }, 'steps', /^steps must be an integer in \[1, 10000\], got 10001$/],
      [{ cfg: -1 }, 'cfg', /^cfg must be a number in \[0, 100\], got -1$/],
      [{ cfg: Number.NaN }, 'cfg', /^cfg must be a number in \[0, 100\], got NaN$/],
      [{ shift: 0 }, 'shift', /^shift must be a number in \(0, 1000\], got 0$/],
      [{ mode: 'rk45' as 'euler' }, 'mode', /^sampler must be one of euler, heun, midpoint, rk4, dopri5, got "rk45"$/],
      [{ cfgMode: 'interval' }, 'cfgMode', /^cfg mode: unknown cfg mode 'interval'/],
      [{ mode: 'dopri5', cfgMode: 'linear' }, 'cfgMode', /^cfg mode linear follows the step index, which the adaptive dopri5 sampler has not/],
      [{ guidanceInterval: [0.9, 0.1] }, 'guidanceInterval', /^guidance interval must be lo,hi with lo <= hi, got "0.9,0.1"$/],
    ];
    for (const [given, setting, message] of cases) {
      let error: unknown;
      try {
        resolveSamplerSettings(given);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SamplerSettingsError);
      expect((error as SamplerSettingsError).setting).toBe(setting);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('words the message with a front end\'s own names: the flag and the text the user typed', () => {
    try {
      resolveSamplerSettings({ cfg: 1e308 });
    } catch (e) {
      expect((e as SamplerSettingsError).format('--cfg', '1e308')).toBe('--cfg must be a number in [0, 100], got "1e308"');
      expect((e as SamplerSettingsError).format('CFG scale')).toBe('CFG scale must be a number in [0, 100], got 1e+308');
    }
    expect.assertions(2);
  });

  it('lets dopri5 choose its own steps, and follow any schedule when there is no guidance (cfg 1)', () => {
    expect(resolveSamplerSettings({ mode: 'dopri5', steps: 0 }).mode).toBe('dopri5');
    expect(resolveSamplerSettings({ mode: 'dopri5', cfgMode: 'late', cfg: 1 }).cfgMode).toBe('late');
  });
});
