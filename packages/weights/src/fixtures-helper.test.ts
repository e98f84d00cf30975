import { describe, expect, it } from 'vitest';
import { compareToFixture, expectClose, fixturesDir, loadFixture } from '../../../tools/testing/fixtures';
import type { RawTensor } from './index';

describe('tools/testing/fixtures (shared test helper)', () => {
  it('finds the fixtures next to the repository', () => {
    expect(fixturesDir()).toMatch(/shared\/fixtures$/);
  });

  it('loads a case: json, io tensors and its weights', () => {
    const f = loadFixture('dit');
    expect(f.json.case).toBe('dit');
    expect(f.io.get('x')!.shape).toEqual(f.json.shapes.x);
    const w = f.weights();
    expect(w.get('pos_embed')!.shape).toEqual([1, 256, 128]);
    expect(f.tolerance('out')).toEqual(f.json.tolerance_per_output.out);
  });

  it('selects and strips the weights prefix of shared weights files', () => {
    const w = loadFixture('residual_vit').weights();
    expect(w.size).toBeGreaterThan(0);
    for (const k of w.keys()) expect(k.startsWith('extra_vit.')).toBe(false);
  });

  it('compares with max_abs and rel_l2 and explains failures', () => {
    const expected: RawTensor = { dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) };
    const close = compareToFixture([1, 2, 3, 4.0001], expected, { max_abs: 1e-3, rel_l2: 1e-3 });
    expect(close.ok).toBe(true);
    expect(close.maxAbs).toBeCloseTo(1e-4, 8);
    expect(close.relL2).toBeCloseTo(1e-4 / Math.sqrt(30), 8);
    expect(compareToFixture([1, 2, 3, NaN], expected, { max_abs: 1, rel_l2: 1 }).ok).toBe(false);
    expect(() => expectClose('out', new Float32Array([1, 2, 3, 5]), expected, { max_abs: 1e-3, rel_l2: 1 })).toThrow(
      /^out: max_abs 1\.000e\+0 \(limit 0\.001\), rel_l2 1\.826e-1 \(limit 1\) over 4 values$/,
    );
    expect(() => compareToFixture([1, 2], expected, { max_abs: 1, rel_l2: 1 })).toThrow(/length mismatch/);
  });
});
