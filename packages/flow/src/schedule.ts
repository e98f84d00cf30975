/**
 * Rectified-flow time convention and sampling grids.
 *
 * Time runs from `t = 0` (pure noise) to `t = 1` (data): `z_t = (1 − t)·z0 + t·z1`, velocity `z1 − z0`.
 * Sampling integrates `dz/dt = v(z, t)` from 0 to 1 on a grid that is uniform in an auxiliary time `u` and
 * mapped through {@link shiftTime}.
 */

/**
 * The rectified-flow time shift `s·t / (1 + (s − 1)·t)` (identity when `shift ≤ 0`).
 *
 * `shift < 1` moves times toward 0 (the noise end), `shift = 1` is the identity. Computed in float64, like the
 * reference, which shifts each grid point as a Python float. Examples: `shiftTime(0.5, 0.4) = 0.2857…`,
 * `shiftTime(0.5, 0.15) = 0.1304…`.
 */
export function shiftTime(t: number, shift: number): number {
  if (shift <= 0) return t;
  return (shift * t) / (1 + (shift - 1) * t);
}

/**
 * Inverse of {@link shiftTime} for `shift > 0`: the `u` with `shiftTime(u, shift) = t`
 * (`t / (s − (s − 1)·t)`). Identity when `shift ≤ 0`.
 */
export function unshiftTime(t: number, shift: number): number {
  if (shift <= 0) return t;
  return t / (shift - (shift - 1) * t);
}

/**
 * `torch.linspace(0, 1, steps + 1)` in float32, bit-exact: step `1/steps` rounded to float32, the first half of
 * the points counted up from 0 and the second half counted down from 1 (torch's symmetric formula).
 */
export function uniformGrid(steps: number): Float32Array {
  checkSteps(steps);
  const n = steps + 1;
  const out = new Float32Array(n);
  const step = Math.fround(1 / steps);
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    out[i] = i < half ? Math.fround(step * i) : Math.fround(1 - Math.fround(step * (steps - i)));
  }
  return out;
}

/**
 * The sampling time grid `t_0 = 0 < t_1 < … < t_steps = 1` (length `steps + 1`, float32): the float32 uniform grid
 * {@link uniformGrid}, each point shifted in float64 by {@link shiftTime} and rounded to float32. Bit-exact with
 * the reference `prepare_t_seq`.
 */
export function timeSchedule(steps: number, shift = 1): Float32Array {
  const base = uniformGrid(steps);
  return base.map((u) => shiftTime(u, shift));
}

/** Step sizes `dt_k = t_{k+1} − t_k` of a time grid, in float32 (length `ts.length − 1`). */
export function timeDeltas(ts: ArrayLike<number>): Float32Array {
  const out = new Float32Array(Math.max(0, ts.length - 1));
  for (let k = 0; k < out.length; k++) out[k] = Math.fround(ts[k + 1] - ts[k]);
  return out;
}

function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
}
