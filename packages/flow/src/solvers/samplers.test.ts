import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeSchedule } from '../schedule';
import { useCpu } from '../testing/setup';
import type { VelocityFn } from '../velocity';
import { SOLVERS, type SolverName } from '../settings';
import { type StepInfo, sample } from './samplers';

beforeAll(useCpu);

// dz/dt = −2t·z², exact flow z(t) = z0 / (1 + z0·t²): nonlinear and time-dependent, so a solver that evaluates a
// stage at the wrong time or with the wrong weights loses its order.
const field: VelocityFn<unknown> = (z, t) => tf.mul(tf.reshape(tf.mul(-2, t), [-1, 1]), tf.mul(z, z));
const z0Values = Float32Array.from({ length: 16 }, (_, i) => 0.5 + (1.5 * i) / 15);
const exact = z0Values.map((z0) => z0 / (1 + z0));

async function finalError(mode: SolverName, steps: number, extra: Record<string, unknown> = {}): Promise<{ err: number; nfe: number }> {
  const z0 = tf.tensor(z0Values, [1, 16]);
  let nfe = 0;
  const out = await sample(field, z0, { steps, mode, shift: 1, onStep: (s) => void (nfe = s.nfe), ...extra });
  const d = await out.data();
  tf.dispose([z0, out]);
  return { err: Math.max(...Array.from(d, (v, i) => Math.abs(v - exact[i]))), nfe };
}

/** Observed orders log2(e_N / e_2N) for consecutive step counts. */
async function observedOrders(mode: SolverName, steps: number[]): Promise<number[]> {
  const errs: number[] = [];
  for (const n of steps) errs.push((await finalError(mode, n)).err);
  console.log(`${mode}: steps ${steps.join(', ')} → errors ${errs.map((e) => e.toExponential(2)).join(', ')}`);
  return errs.slice(1).map((e, i) => Math.log2(errs[i] / e));
}

describe('convergence on a flow with a known solution', () => {
  // Step counts are chosen in each solver's asymptotic range and above float32 round-off (~1e-6).
  const cases: [SolverName, number[], number][] = [
    ['euler', [16, 32, 64], 1],
    ['heun', [8, 16, 32, 64], 2],
    ['midpoint', [8, 16, 32, 64], 2],
    ['rk4', [4, 8, 16], 4],
  ];
  for (const [mode, steps, order] of cases) {
    it(`${mode} has order ${order}`, async () => {
      const orders = await observedOrders(mode, steps);
      console.log(`${mode}: observed orders ${orders.map((o) => o.toFixed(2)).join(', ')}`);
      expect(SOLVERS[mode].order).toBe(order);
      for (const o of orders) {
        expect(o).toBeGreaterThan(order - 0.15 * order);
        expect(o).toBeLessThan(order + 0.15 * order);
      }
    });
  }

  it('dopri5 meets its tolerance and spends more evaluations for tighter ones', async () => {
    const runs = [];
    for (const tol of [1e-3, 1e-4, 1e-5]) {
      const r = await finalError('dopri5', 0, { tolerance: { rtol: tol, atol: tol } });
      console.log(`dopri5: tol ${tol} → error ${r.err.toExponential(2)}, ${r.nfe} evaluations`);
      expect(r.err).toBeLessThan(5 * tol);
      runs.push(r);
    }
    expect(runs[2].err).toBeLessThan(runs[0].err);
    expect(runs[2].nfe).toBeGreaterThan(runs[0].nfe);
    // Far cheaper than Euler at similar accuracy.
    const euler = await finalError('euler', 64);
    expect(runs[0].err).toBeLessThan(euler.err);
    expect(runs[0].nfe).toBeLessThan(64);
  });
});

describe('sample()', () => {
  it('reports every step on the shifted grid, with evaluation counts', async () => {
    const z = tf.ones([2, 3]);
    const infos: Omit<StepInfo, 'z'>[] = [];
    const out = await sample(field, z, { steps: 6, shift: 0.15, mode: 'heun', onStep: ({ z: _z, ...rest }) => void infos.push(rest) });
    const ts = timeSchedule(6, 0.15);
    expect(infos.map((i) => i.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(infos.every((i) => i.steps === 6)).toBe(true);
    expect(infos.map((i) => i.t)).toEqual(Array.from(ts.slice(1)));
    expect(infos.map((i) => i.nfe)).toEqual([2, 4, 6, 8, 10, 12]);
    tf.dispose([z, out]);
  });

  it("gives each step's clean-sample estimate x̂₁: for Euler the one-step prediction z + (1 − t)·v from the step's start", async () => {
    const z0 = tf.tensor(z0Values, [1, 16]);
    let start = tf.clone(z0);
    let tStart = 0;
    const gaps: number[] = [];
    const out = await sample(field, z0, {
      steps: 5,
      shift: 1,
      onStep: async ({ z, t, x1 }) => {
        const predicted = tf.tidy(() => tf.add(start, tf.mul(1 - tStart, field(start, tf.fill([1], tStart), undefined) as tf.Tensor)));
        const estimate = x1();
        gaps.push(tf.tidy(() => tf.max(tf.abs(tf.sub(estimate, predicted)))).dataSync()[0]);
        if (t === 1) expect(Array.from(await estimate.data())).toEqual(Array.from(await z.data()));
        tf.dispose([predicted, estimate, start]);
        start = tf.clone(z);
        tStart = t;
      },
    });
    expect(gaps).toHaveLength(5);
    for (const g of gaps) expect(g).toBeLessThan(1e-5);
    tf.dispose([z0, out, start]);
  });

  it('keeps every solver\'s state alive for x1() during onStep, and leaks nothing', async () => {
    for (const mode of Object.keys(SOLVERS) as SolverName[]) {
      const z = tf.tensor(z0Values, [1, 16]);
      const before = tf.memory().numTensors;
      const out = await sample(field, z, { mode, steps: 4, onStep: ({ x1 }) => x1().dispose() });
      expect(tf.memory().numTensors).toBe(before + 1);
      tf.dispose([z, out]);
    }
  });

  it('defaults to the SVG settings (25 Euler steps, shift 0.15) and leaves z alone', async () => {
    const z = tf.ones([1, 2]);
    const ts: number[] = [];
    const out = await sample(field, z, { onStep: (s) => void ts.push(s.t) });
    expect(ts).toEqual(Array.from(timeSchedule(25, 0.15).slice(1)));
    expect(z.isDisposed).toBe(false);
    expect(out).not.toBe(z);
    tf.dispose([z, out]);
  });

  it('accepts a custom time grid', async () => {
    const z = tf.ones([1, 2]);
    const ts: number[] = [];
    const out = await sample(field, z, { times: [0, 0.5, 0.9, 1], onStep: (s) => void ts.push(s.t) });
    expect(ts).toEqual([0.5, Math.fround(0.9), 1]);
    await expect(sample(field, z, { times: [0, 0.5, 0.5, 1] })).rejects.toThrow(/increase strictly/);
    tf.dispose([z, out]);
  });

  it('uses the first half of a 2C (learn_sigma) output and element 0 of an array output', async () => {
    const z = tf.ones([1, 4, 3]);
    const wide: VelocityFn<undefined> = (s) => tf.concat([tf.onesLike(s), tf.fill(s.shape, 100)], 2);
    const tuple: VelocityFn<undefined> = (s) => [tf.onesLike(s), tf.zerosLike(s)];
    const channelsFirst: VelocityFn<undefined> = (s) => tf.concat([tf.onesLike(s), tf.fill(s.shape, 100)], 1);
    for (const fn of [wide, tuple, channelsFirst]) {
      const out = await sample(fn, z, { steps: 3 });
      expect(Array.from(await out.data())).toEqual(new Array(12).fill(2));
      out.dispose();
    }
    const bad: VelocityFn<undefined> = (s) => tf.concat([s, s, s], 2);
    await expect(sample(bad, z, { steps: 2 })).rejects.toThrow(/velocity has shape \[1, 4, 9\] but the state has shape \[1, 4, 3\]/);
    z.dispose();
  });

  it('keeps tensor counts flat across steps for every solver and with guidance', async () => {
    const z = tf.ones([2, 3]);
    const y = tf.tensor1d([1, 2], 'int32');
    const yNull = tf.tensor1d([0, 0], 'int32');
    const condField: VelocityFn<tf.Tensor> = (s, t, labels) => tf.mul(field(s, t, undefined) as tf.Tensor, tf.reshape(tf.cast(labels, 'float32'), [-1, 1]));
    for (const mode of Object.keys(SOLVERS) as SolverName[]) {
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      const out = await sample(condField, z, { y, yNull, mode, steps: 5, cfgMode: mode === 'dopri5' ? 'constant' : 'linear', onStep: () => void counts.push(tf.memory().numTensors) });
      expect(counts.length).toBeGreaterThan(2);
      // During onStep: the state, the previous state (for x1; at step 1 that is z itself) and dopri5's reused last stage.
      const extra = mode === 'dopri5' ? 1 : 0;
      expect(counts[0]).toBe(before + 1 + extra);
      expect(new Set(counts.slice(1))).toEqual(new Set([before + 2 + extra]));
      expect(tf.memory().numTensors).toBe(before + 1);
      out.dispose();
    }
    tf.dispose([z, y, yNull]);
  });

  it('can be cancelled with an AbortSignal without leaking tensors', async () => {
    const z = tf.ones([1, 3]);
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const promise = sample(field, z, {
      steps: 10,
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === 3) controller.abort(new Error('stop'));
      },
    });
    await expect(promise).rejects.toThrow('stop');
    expect(tf.memory().numTensors).toBe(before);
    const early = new AbortController();
    early.abort();
    await expect(sample(field, z, { signal: early.signal })).rejects.toThrow();
    const dopri = new AbortController();
    await expect(sample(field, z, { mode: 'dopri5', signal: dopri.signal, onStep: () => dopri.abort(new Error('stop dopri5')) })).rejects.toThrow('stop dopri5');
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
  });

  it('awaits an async onStep before the next step', async () => {
    const z = tf.ones([1, 2]);
    const events: string[] = [];
    const out = await sample(field, z, {
      steps: 3,
      onStep: async ({ step }) => {
        events.push(`start ${step}`);
        await new Promise((r) => setTimeout(r, 5));
        events.push(`end ${step}`);
      },
    });
    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    tf.dispose([z, out]);
  });

  it('rejects unknown solvers and step-indexed guidance with dopri5', async () => {
    const z = tf.ones([1, 2]);
    const y = tf.tensor1d([1], 'int32');
    await expect(sample(field, z, { mode: 'rk45' as SolverName })).rejects.toThrow(/^sampler must be one of euler, heun, midpoint, rk4, dopri5, got "rk45"$/);
    await expect(sample(field, z, { mode: 'dopri5', y, yNull: y, cfgMode: 'late' })).rejects.toThrow(/^cfg mode late follows the step index, which the adaptive dopri5 sampler has not/);
    await expect(sample(field, z, { steps: 0 })).rejects.toThrow(/^steps must be an integer in \[1, 10000\], got 0$/);
    await expect(sample(field, z, { shift: 0 })).rejects.toThrow(/^shift must be a number in \(0, 1000\], got 0$/);
    await expect(sample(field, z, { y, yNull: y, cfgMode: 'interval' })).rejects.toThrow(/unknown cfg mode 'interval'/);
    await expect(sample(field, z, { y, yNull: y, guidanceInterval: [0.8, 0.2] })).rejects.toThrow(/lo <= hi/);
    tf.dispose([z, y]);
  });
});

describe('guidance inside the sampler', () => {
  // v_c = 1 and v_u = 0 everywhere: the guided velocity is the guidance scale itself, so Euler's result is
  // z0 + Σ dt_k·scale_k and every schedule can be checked exactly.
  const labels: VelocityFn<tf.Tensor> = (s, _t, y) => tf.mul(tf.onesLike(s), tf.reshape(tf.cast(y, 'float32'), [-1, 1]));
  let y: tf.Tensor;
  let yNull: tf.Tensor;
  beforeAll(() => {
    y = tf.tensor1d([1], 'int32');
    yNull = tf.tensor1d([0], 'int32');
  });
  afterAll(() => tf.dispose([y, yNull]));
  const steps = 5;
  const ts = timeSchedule(steps, 0.15);
  const dt = (k: number) => Math.fround(ts[k + 1] - ts[k]);

  async function run(options: Record<string, unknown>, fn: VelocityFn<tf.Tensor> = labels): Promise<number> {
    const z = tf.zeros([1, 2]);
    const out = await sample(fn, z, { y, yNull, steps, shift: 0.15, cfg: 3, ...options });
    const v = (await out.data())[0];
    tf.dispose([z, out]);
    return v;
  }
  const expectSum = (got: number, scales: number[]) => expect(got).toBeCloseTo(scales.reduce((s, w, k) => s + dt(k) * w, 0), 5);

  it('applies every reference cfg mode', async () => {
    expectSum(await run({ cfgMode: 'constant' }), [3, 3, 3, 3, 3]);
    expectSum(await run({ cfgMode: 'late' }), [1, 1, 3, 3, 3]);
    expectSum(await run({ cfgMode: 'linear' }), [1.4, 1.8, 2.2, 2.6, 3]);
    // early-X: guidance only where t_k > X (t_k = 0, 0.036, 0.091, 0.184, 0.375).
    expectSum(await run({ cfgMode: 'early-0.1' }), [1, 1, 1, 3, 3]);
    expectSum(await run({ cfgMode: { kind: 'early', threshold: 0.05 } }), [1, 1, 3, 3, 3]);
    // cfg_star-N-R: −R·v_u (= 0 here) for the first N steps.
    expectSum(await run({ cfgMode: 'cfg_star-2-0.5' }), [0, 0, 3, 3, 3]);
  });

  it('cfg_star uses −R·v_u in its first steps', async () => {
    const shifted: VelocityFn<tf.Tensor> = (s, _t, lab) => tf.add(tf.onesLike(s), tf.reshape(tf.cast(lab, 'float32'), [-1, 1]));
    // v_c = 2, v_u = 1: first step −0.5·1, then (1 − 3)·1 + 3·2 = 4.
    expectSum(await run({ cfgMode: 'cfg_star-1-0.5' }, shifted), [-0.5, 4, 4, 4, 4]);
  });

  it('guidanceInterval applies guidance only for t in [lo, hi] and skips the unconditional pass outside', async () => {
    let uncond = 0;
    const counting: VelocityFn<tf.Tensor> = (s, t, lab) => {
      if (lab === yNull) uncond++;
      return labels(s, t, lab);
    };
    expectSum(await run({ guidanceInterval: [0.05, 0.2] }, counting), [1, 1, 3, 3, 1]);
    expect(uncond).toBe(2);
    expectSum(await run({ guidanceInterval: [0, 1], cfgMode: 'late' }), [1, 1, 3, 3, 3]);
  });

  it('without yNull, the conditional velocity is used as is', async () => {
    const z = tf.zeros([1, 2]);
    const out = await sample(labels, z, { y, steps, cfg: 3 });
    expect((await out.data())[0]).toBeCloseTo(1, 6);
    tf.dispose([z, out]);
  });

  it('dopri5 supports constant and early guidance', async () => {
    expect(await run({ mode: 'dopri5' })).toBeCloseTo(3, 4);
  });
});
