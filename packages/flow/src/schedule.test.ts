import { describe, expect, it } from 'vitest';
import { expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { shiftTime, timeDeltas, timeSchedule, uniformGrid, unshiftTime } from './schedule';

describe('shiftTime', () => {
  it('matches the spec examples and limits', () => {
    expect(shiftTime(0.5, 0.4)).toBeCloseTo(0.2857142857, 9);
    expect(shiftTime(0.5, 0.15)).toBeCloseTo(0.1304347826, 9);
    expect(shiftTime(0.3, 1)).toBe(0.3);
    expect(shiftTime(0.3, 0)).toBe(0.3);
    expect(shiftTime(0.3, -2)).toBe(0.3);
    expect(shiftTime(0, 0.15)).toBe(0);
    expect(shiftTime(1, 0.15)).toBeCloseTo(1, 15); // 0.9999999999999998 in float64, 1 in float32
    expect(unshiftTime(shiftTime(0.37, 0.15), 0.15)).toBeCloseTo(0.37, 12);
  });
});

describe('timeSchedule', () => {
  it('reproduces the flow_t_seq fixture bit-exactly', () => {
    const fx = loadFixture('flow_t_seq');
    for (const [steps, shift] of fx.json.config.schedules as [number, number][]) {
      const name = `steps${steps}_shift${Number.isInteger(shift) ? shift.toFixed(1) : shift}`;
      const ts = timeSchedule(steps, shift);
      const dts = timeDeltas(ts);
      expect(ts.length).toBe(steps + 1);
      const tWant = fx.io.get(`t_seq_${name}`)!;
      const dtWant = fx.io.get(`dt_seq_${name}`)!;
      const a = expectClose(`t_seq_${name}`, ts, tWant, fx.tolerance(`t_seq_${name}`));
      const b = expectClose(`dt_seq_${name}`, dts, dtWant, fx.tolerance(`dt_seq_${name}`));
      console.log(`flow_t_seq ${name}: t max_abs ${a.maxAbs} rel_l2 ${a.relL2}; dt max_abs ${b.maxAbs} rel_l2 ${b.relL2}`);
      expect(Array.from(ts)).toEqual(Array.from(tWant.data as Float32Array));
      expect(Array.from(dts)).toEqual(Array.from(dtWant.data as Float32Array));
    }
  });

  it('matches the spec grid for the sampling defaults (25 steps, shift 0.15)', () => {
    const want = [
      0, 0.0062112, 0.0128755, 0.0200445, 0.0277778, 0.0361446, 0.0452261, 0.0551181, 0.0659341, 0.0778098, 0.0909091,
      0.1054313, 0.1216216, 0.1397849, 0.1603054, 0.1836735, 0.2105263, 0.2417062, 0.2783505, 0.3220339, 0.375,
      0.4405595, 0.5238095, 0.6330276, 0.7826086, 1,
    ];
    const ts = timeSchedule(25, 0.15);
    want.forEach((w, i) => expect(Math.abs(ts[i] - w)).toBeLessThan(6e-8));
  });

  it('uses torch.linspace float32 rounding', () => {
    // Symmetric formula: the upper half counts down from 1, so 1 - step*(n-i) in float32.
    const g = uniformGrid(7);
    const step = Math.fround(1 / 7);
    expect(g[2]).toBe(Math.fround(step * 2));
    expect(g[5]).toBe(Math.fround(1 - Math.fround(step * 2)));
    expect(g[0]).toBe(0);
    expect(g[7]).toBe(1);
  });

  it('rejects bad step counts', () => {
    expect(() => timeSchedule(0, 1)).toThrow(/positive integer/);
    expect(() => timeSchedule(2.5, 1)).toThrow(/positive integer/);
  });
});
