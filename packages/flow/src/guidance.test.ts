import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyGuidance, formatCfgMode, guidanceRule, inGuidanceInterval, isStepIndexed, parseCfgMode } from './guidance';
import { useCpu } from './testing/setup';

beforeAll(useCpu);

describe('parseCfgMode', () => {
  it('parses every reference mode', () => {
    expect(parseCfgMode('constant')).toEqual({ kind: 'constant' });
    expect(parseCfgMode('late')).toEqual({ kind: 'late' });
    expect(parseCfgMode('linear')).toEqual({ kind: 'linear' });
    expect(parseCfgMode('early-0.5')).toEqual({ kind: 'early', threshold: 0.5 });
    expect(parseCfgMode('early-.25')).toEqual({ kind: 'early', threshold: 0.25 });
    expect(parseCfgMode('cfg_star-1-0.5')).toEqual({ kind: 'cfg_star', zeroSteps: 1, ratio: 0.5 });
    expect(parseCfgMode('cfg_star-3-0')).toEqual({ kind: 'cfg_star', zeroSteps: 3, ratio: 0 });
    const parsed = { kind: 'early', threshold: 0.2 } as const;
    expect(parseCfgMode(parsed)).toBe(parsed);
  });

  it('round-trips through formatCfgMode', () => {
    for (const m of ['constant', 'late', 'linear', 'early-0.5', 'cfg_star-1-0.5']) expect(formatCfgMode(parseCfgMode(m))).toBe(m);
  });

  it('rejects unknown or malformed modes (the reference raises too; "interval" is documented but not implemented)', () => {
    for (const bad of ['interval', 'early', 'early-', 'early-x', 'cfg_star-1', 'cfg_star-a-0.5', 'Constant', '']) {
      expect(() => parseCfgMode(bad)).toThrow(/unknown cfg mode/);
    }
  });

  it('knows which modes depend on the step index', () => {
    expect(['constant', 'early-0.3'].map((m) => isStepIndexed(parseCfgMode(m)))).toEqual([false, false]);
    expect(['late', 'linear', 'cfg_star-1-0'].map((m) => isStepIndexed(parseCfgMode(m)))).toEqual([true, true, true]);
  });
});

describe('guidanceRule', () => {
  const ctx = (step: number, t = 0.5) => ({ step, steps: 4, t });
  it('follows the reference table', () => {
    expect(guidanceRule(parseCfgMode('constant'), 4, ctx(0))).toEqual({ kind: 'guided', scale: 4 });
    // late: (k+1)/S > 0.5
    expect([0, 1, 2, 3].map((k) => guidanceRule({ kind: 'late' }, 4, ctx(k)))).toEqual([1, 1, 4, 4].map((scale) => ({ kind: 'guided', scale })));
    // linear: 1 + (w − 1)(k+1)/S
    expect([0, 1, 2, 3].map((k) => (guidanceRule({ kind: 'linear' }, 5, ctx(k)) as { scale: number }).scale)).toEqual([2, 3, 4, 5]);
    // early-X: strictly t > X
    expect(guidanceRule(parseCfgMode('early-0.5'), 4, ctx(0, 0.5))).toEqual({ kind: 'guided', scale: 1 });
    expect(guidanceRule(parseCfgMode('early-0.5'), 4, ctx(0, 0.51))).toEqual({ kind: 'guided', scale: 4 });
    // cfg_star-N-R
    expect(guidanceRule(parseCfgMode('cfg_star-2-0.5'), 4, ctx(1))).toEqual({ kind: 'unconditional', ratio: 0.5 });
    expect(guidanceRule(parseCfgMode('cfg_star-2-0.5'), 4, ctx(2))).toEqual({ kind: 'star', scale: 4 });
  });
});

describe('applyGuidance', () => {
  it('combines the velocities', async () => {
    const vc = tf.tensor1d([2, 4]);
    const vu = tf.tensor1d([1, -1]);
    const get = async (t: tf.Tensor) => {
      const d = Array.from(await t.data());
      t.dispose();
      return d;
    };
    expect(await get(applyGuidance({ kind: 'guided', scale: 3 }, vc, vu))).toEqual([4, 14]);
    expect(await get(applyGuidance({ kind: 'star', scale: 3 }, vc, vu))).toEqual([4, 14]);
    expect(await get(applyGuidance({ kind: 'unconditional', ratio: 0.5 }, vc, vu))).toEqual([-0.5, 0.5]);
    tf.dispose([vc, vu]);
  });
});

describe('inGuidanceInterval', () => {
  it('is inclusive and always true without an interval', () => {
    expect(inGuidanceInterval(0.3, undefined)).toBe(true);
    expect([0.1, 0.2, 0.5, 0.6].map((t) => inGuidanceInterval(t, [0.2, 0.5]))).toEqual([false, true, true, false]);
  });
});
