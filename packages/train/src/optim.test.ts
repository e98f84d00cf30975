import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerBlasKernels, unregisterBlasKernels } from '@svg/blas';
import { FUSED_KERNELS, SeededRandom } from '@svg/nn';
import { Adam, AdamW } from './optim';
import { TwoParams, useCpu, values } from './test-util';

beforeAll(useCpu);

/** One scalar parameter `p` as a 1-element module parameter. */
function scalarModel(p0: number): TwoParams {
  const m = new TwoParams();
  m.w.set(tf.fill([3], p0));
  return m;
}

function grads(m: TwoParams, g: number): Map<string, tf.Tensor> {
  return new Map([['w', tf.fill(m.w.shape, g)]]);
}

describe('AdamW', () => {
  it('matches hand-computed torch.optim.AdamW steps (weight decay, bias correction)', async () => {
    // p0 = 1, lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01; gradients 0.5, -0.25, 1.0.
    // Step 1 by hand: p = 1·(1 − 0.1·0.01) = 0.999; m = 0.05; v = 0.00025; m̂ = 0.5; √v̂ = 0.5;
    //   p = 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.899000002.
    // Step 2: p = 0.899000002·0.999 = 0.898101002; m = 0.02; v = 0.00031225; m̂ = 0.02/0.19; √v̂ = √(0.00031225/0.001999);
    //   p = 0.8714672987. Step 3 likewise: 0.8047846724.
    const m = scalarModel(1);
    const opt = new AdamW([['w', m.w]], { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    const expected = [0.899000002, 0.8714672987058463, 0.804784672376384];
    for (const [i, g] of [0.5, -0.25, 1.0].entries()) {
      const gr = grads(m, g);
      opt.step(gr);
      tf.dispose([...gr.values()]);
      for (const v of await values(m.w.value)) expect(v).toBeCloseTo(expected[i], 6);
    }
    expect(opt.stepCount('w')).toBe(3);
    opt.dispose();
  });

  it('defaults to PyTorch AdamW defaults (lr 1e-3, weight decay 0.01)', () => {
    const m = new TwoParams();
    const opt = new AdamW(m.trainableParameters());
    expect([opt.lr, opt.betas, opt.eps, opt.weightDecay, opt.decoupled]).toEqual([1e-3, [0.9, 0.999], 1e-8, 0.01, true]);
  });

  it('first step moves every weight by lr·sign(g) (bias-corrected Adam, no decay)', async () => {
    const m = new TwoParams();
    const opt = new AdamW(m.trainableParameters(), { lr: 0.01, weightDecay: 0 });
    const g = new Map<string, tf.Tensor>([
      ['w', tf.tensor1d([3, -0.001, 0])],
      ['fc.weight', tf.fill([2, 3], -2)],
    ]);
    opt.step(g);
    const w = await values(m.w.value);
    expect(w[0]).toBeCloseTo(0.99, 6);
    expect(w[1]).toBeCloseTo(1.01, 4); // |g| ≫ eps
    expect(w[2]).toBe(1); // zero gradient: m = 0 → no move
    for (const v of await values(m.fc.weight.value)) expect(v).toBeCloseTo(0.51, 6);
    expect(opt.stepCount('fc.bias')).toBe(0); // no gradient given: untouched, as PyTorch's grad=None
    tf.dispose([...g.values()]);
    opt.dispose();
  });

  it('saves moments in PyTorch layout and resumes bit for bit', async () => {
    const run = (m: TwoParams, opt: AdamW, from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const g = new Map<string, tf.Tensor>([
          ['w', tf.tensor1d([Math.sin(i), Math.cos(i), 0.1 * i])],
          ['fc.weight', tf.tensor2d([[i, -i, 0.5], [0.25, Math.sin(i), -1]])],
          ['fc.bias', tf.tensor1d([0.3, -0.2 * i, 1])],
        ]);
        opt.step(g);
        tf.dispose([...g.values()]);
      }
    };
    const a = new TwoParams();
    const optA = new AdamW(a.trainableParameters(), { lr: 0.05, weightDecay: 0.1 });
    run(a, optA, 0, 5);

    const b = new TwoParams();
    const optB = new AdamW(b.trainableParameters(), { lr: 0.05, weightDecay: 0.1 });
    run(b, optB, 0, 3);
    const saved = await optB.saveState();
    expect(saved.get('exp_avg.fc.weight')!.shape).toEqual([3, 2]); // torch [out, in]
    expect(Array.from(saved.get('step.w')!.data as Float32Array)).toEqual([3]);
    const c = new TwoParams();
    for (const [name, p] of c.trainableParameters()) p.set(tf.clone(new Map(b.trainableParameters()).get(name)!.value));
    const optC = new AdamW(c.trainableParameters(), { lr: 0.05, weightDecay: 0.1 });
    optC.loadState(saved);
    run(c, optC, 3, 5);
    for (const name of ['w', 'fc.weight', 'fc.bias']) {
      const pa = new Map(a.trainableParameters()).get(name)!.value;
      const pc = new Map(c.trainableParameters()).get(name)!.value;
      expect(await values(pc)).toEqual(await values(pa));
    }
    [optA, optB, optC].forEach((o) => o.dispose());
  });

  it('rejects bad state and bad gradients with the parameter name', () => {
    const m = new TwoParams();
    const opt = new AdamW(m.trainableParameters());
    expect(() => opt.step(new Map([['nope', tf.zeros([1])]]))).toThrow(/unknown parameter nope/);
    expect(() => opt.step(new Map([['w', tf.zeros([4])]]))).toThrow(/gradient of w has shape \[4\]/);
    expect(() => opt.loadState(new Map([['exp_avg.w', { dtype: 'F32', shape: [3], data: new Float32Array(3) }]]))).toThrow(/w needs exp_avg, exp_avg_sq and step/);
    expect(() =>
      opt.loadState(
        new Map([
          ['exp_avg.w', { dtype: 'F32' as const, shape: [4], data: new Float32Array(4) }],
          ['exp_avg_sq.w', { dtype: 'F32' as const, shape: [4], data: new Float32Array(4) }],
          ['step.w', { dtype: 'F32' as const, shape: [], data: new Float32Array([1]) }],
        ]),
      ),
    ).toThrow(/exp_avg.w: expected shape \[3\], got \[4\]/);
    expect(() => new AdamW(m.trainableParameters(), { betas: [1, 0.9] })).toThrow(/beta1/);
    m.w.setTrainable(false);
    expect(() => new AdamW([['w', m.w]])).toThrow(/frozen/);
  });

  it('keeps the number of tensors flat across steps', () => {
    const m = new TwoParams();
    const opt = new AdamW(m.trainableParameters());
    const g = new Map<string, tf.Tensor>(m.trainableParameters().map(([n, p]) => [n, tf.onesLike(p.value)]));
    opt.step(g);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) opt.step(g);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...g.values()]);
    opt.dispose();
  });
});

describe('Adam', () => {
  it('matches hand-computed torch.optim.Adam steps (L2 weight decay, betas 0.5/0.9)', async () => {
    // p0 = 2, lr 0.01, betas (0.5, 0.9), weight decay 0.1 added to the gradient; gradients 1, −3.
    // Step 1: g' = 1.2; m = 0.6 (lerp with weight 0.5); v = 0.144; m̂ = 1.2; √v̂ = 1.2 → p = 2 − 0.01 = 1.99.
    // Step 2: g' = −3 + 0.199 = −2.801; m = −1.1005; v = 0.91416; p = 1.9966895123.
    const m = scalarModel(2);
    const opt = new Adam([['w', m.w]], { lr: 0.01, betas: [0.5, 0.9], weightDecay: 0.1 });
    expect(opt.decoupled).toBe(false);
    const expected = [1.9900000000833333, 1.9966895122977324];
    for (const [i, g] of [1, -3].entries()) {
      const gr = grads(m, g);
      opt.step(gr);
      tf.dispose([...gr.values()]);
      for (const v of await values(m.w.value)) expect(v).toBeCloseTo(expected[i], 6);
    }
    opt.dispose();
  });

  it('defaults to no weight decay', () => {
    expect(new Adam(new TwoParams().trainableParameters()).weightDecay).toBe(0);
  });
});

describe('the fused update (SvgAdamUpdate of @svg/blas)', () => {
  /** Three steps on seeded weights and gradients; returns the weights and the moments. */
  async function run(make: (m: TwoParams) => AdamW): Promise<Float32Array[]> {
    const m = new TwoParams();
    const rng = new SeededRandom(3);
    m.w.set(tf.tensor(rng.normalArray(3)));
    m.fc.weight.set(tf.tensor(rng.normalArray(6), m.fc.weight.shape));
    const opt = make(m);
    for (let step = 0; step < 3; step++) {
      const g = new Map([['w', tf.tensor(rng.normalArray(3, 0, 1e-3))], ['fc.weight', tf.tensor(rng.normalArray(6), m.fc.weight.shape)]]);
      opt.step(g);
      tf.dispose([...g.values()]);
    }
    const out = [Float32Array.from(await values(m.w.value)), Float32Array.from(await values(m.fc.weight.value))];
    for (const t of (await opt.saveState()).values()) out.push(Float32Array.from(t.data as Float32Array));
    opt.dispose();
    m.dispose();
    return out;
  }

  it('gives bit for bit the composite of tfjs ops (AdamW with decay, Adam with L2, both lerp branches)', async () => {
    const makers = [
      (m: TwoParams) => new AdamW(m.trainableParameters(), { lr: 1e-3, betas: [0.9, 0.999], weightDecay: 0.01 }),
      (m: TwoParams) => new Adam(m.trainableParameters(), { lr: 1e-4, betas: [0.5, 0.9], weightDecay: 0.1 }),
    ];
    for (const make of makers) {
      expect(tf.getKernel(FUSED_KERNELS.adamUpdate, 'cpu')).toBeDefined();
      const fused = await run(make);
      unregisterBlasKernels('cpu');
      try {
        expect(tf.getKernel(FUSED_KERNELS.adamUpdate, 'cpu')).toBeUndefined();
        const composite = await run(make);
        expect(fused.map((a) => Buffer.from(a.buffer).toString('hex'))).toEqual(composite.map((a) => Buffer.from(a.buffer).toString('hex')));
      } finally {
        registerBlasKernels('cpu');
      }
    }
  });
});
