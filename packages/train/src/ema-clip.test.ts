import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Linear, Module } from '@svg/nn';
import { clipGradNorm, globalNorm } from './clip';
import { Ema } from './ema';
import { TwoParams, useCpu, values } from './test-util';

beforeAll(useCpu);

describe('Ema', () => {
  it('starts as an exact copy and follows ema·d + p·(1 − d), buffers and frozen parameters included', async () => {
    const model = new TwoParams();
    model.fc.bias!.setTrainable(false);
    const ema = new Ema(model, new TwoParams());
    expect(await values(ema.shadow.w.value)).toEqual([1, 1, 1]);
    expect(ema.shadow.w.trainable).toBe(false);
    model.w.set(tf.tensor1d([3, 1, -1]));
    model.fc.bias!.set(tf.tensor1d([1, 2, 3]));
    ema.update(0.75);
    const w = await values(ema.shadow.w.value);
    [1.5, 1, 0.5].forEach((e, i) => expect(w[i]).toBeCloseTo(e, 6));
    const b = await values(ema.shadow.fc.bias!.value);
    [0.25, 0.5, 0.75].forEach((e, i) => expect(b[i]).toBeCloseTo(e, 6));
    ema.update(0);
    expect(await values(ema.shadow.w.value)).toEqual([3, 1, -1]);
    const before = tf.memory().numTensors;
    ema.update(0.9999);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a shadow of another architecture', () => {
    class Other extends Module {
      readonly fc = this.child('fc', new Linear(2, 4));
    }
    expect(() => new Ema(new TwoParams(), new Other())).toThrow(/missing: w/);
    expect(() => new Ema(new TwoParams(), new TwoParams()).update(1.5)).toThrow(/decay/);
  });
});

describe('clipGradNorm', () => {
  it('computes the global norm and scales by max_norm/(norm + 1e-6) only when above', async () => {
    const g = () =>
      new Map<string, tf.Tensor>([
        ['a', tf.tensor1d([3, 0])],
        ['b', tf.tensor2d([[0, 4]])],
      ]);
    const n = globalNorm(g().values());
    expect((await values(n))[0]).toBeCloseTo(5, 6);
    const { grads, totalNorm } = clipGradNorm(g(), 1);
    expect((await values(totalNorm))[0]).toBeCloseTo(5, 6);
    const a = await values(grads.get('a')!);
    expect(a[0]).toBeCloseTo(0.6, 6);
    const b = await values(grads.get('b')!);
    expect(b[1]).toBeCloseTo(0.8, 6);
    const small = clipGradNorm(g(), 10);
    expect(await values(small.grads.get('a')!)).toEqual([3, 0]);
    expect(() => clipGradNorm(g(), 0)).toThrow(/> 0/);
    tf.dispose([n, totalNorm, ...grads.values(), small.totalNorm, ...small.grads.values()]);
  });
});
