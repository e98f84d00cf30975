import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { rectifiedFlowLoss, shiftTensor } from './loss';
import { SeededRandom } from '@svg/nn';
import { useCpu } from './testing/setup';

beforeAll(useCpu);

// The fixture comparison (flow_loss) is in parity.test.ts, on every backend.
describe('rectifiedFlowLoss', () => {
  const toy = (z: tf.Tensor, t: tf.Tensor) => tf.concat([tf.mul(z, tf.reshape(t, [-1, 1, 1])), tf.onesLike(z)], 2);

  it('follows the formula, uses the first half of a 2C output, and t as given', async () => {
    const x = tf.tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
    const z0 = tf.tensor([0.5, -1, 0, 2, 1, 1, -2, 0.25], [2, 2, 2]);
    const { loss, mse, t } = rectifiedFlowLoss(toy, x, undefined, { shift: 0.4, noise: z0, t: [0.25, 0.75] });
    const xs = await x.data();
    const ns = await z0.data();
    const ts = [0.25, 0.75];
    const want = [0, 1].map((b) => {
      let s = 0;
      for (let i = 0; i < 4; i++) {
        const j = b * 4 + i;
        const zt = (1 - ts[b]) * ns[j] + ts[b] * xs[j];
        s += (zt * ts[b] - (xs[j] - ns[j])) ** 2;
      }
      return s / 4;
    });
    const got = await mse.data();
    want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 4));
    expect((await loss.data())[0]).toBeCloseTo((want[0] + want[1]) / 2, 4);
    expect(Array.from(await t.data())).toEqual([0.25, 0.75]);
    tf.dispose([x, z0, loss, mse, t]);
  });

  it('draws noise and times from the generator when not given (reproducibly) and keeps tensor counts flat', async () => {
    const x = tf.ones([3, 4, 2]);
    const before = tf.memory().numTensors;
    const a = rectifiedFlowLoss(toy, x, undefined, { shift: 0.4, rng: new SeededRandom(7) });
    const b = rectifiedFlowLoss(toy, x, undefined, { shift: 0.4, rng: new SeededRandom(7) });
    const c = rectifiedFlowLoss(toy, x, undefined, { shift: 0.4, rng: new SeededRandom(8) });
    expect(tf.memory().numTensors).toBe(before + 9);
    expect(await a.loss.data()).toEqual(await b.loss.data());
    expect(await a.loss.data()).not.toEqual(await c.loss.data());
    const u = new SeededRandom(7).fillUniform(new Float32Array(3));
    const tShift = Array.from(u, (v) => Math.fround((0.4 * v) / (1 + (0.4 - 1) * v)));
    Array.from(await a.t.data()).forEach((v, i) => expect(v).toBeCloseTo(tShift[i], 6));
    tf.dispose([a, b, c, x] as unknown as tf.Tensor[]);
    expect(tf.memory().numTensors).toBe(before - 1);
  });

  it('reports bad inputs clearly', () => {
    const x = tf.ones([2, 4, 2]);
    expect(() => rectifiedFlowLoss(toy, x, undefined, { shift: 0.4, noise: tf.ones([2, 4, 3]) })).toThrow(/noise has shape \[2, 4, 3\] but x has shape \[2, 4, 2\]/);
    expect(() => rectifiedFlowLoss(toy, x, undefined, { shift: 0.4, t: [0.5] })).toThrow(/t has 1 values but the batch has 2/);
    expect(() => rectifiedFlowLoss(toy, x, undefined, { shift: 0.4, t: [0.5, 0.5], uniform: [0.1, 0.2] })).toThrow(/either t or uniform/);
    const bad = (z: tf.Tensor) => tf.concat([z, z, z], 2);
    expect(() => rectifiedFlowLoss(bad, x, undefined, { shift: 0.4 })).toThrow(/axis 2: expected 2, or 4/);
    x.dispose();
  });
});

describe('shiftTensor', () => {
  it('is the float32 version of shiftTime', async () => {
    const u = tf.tensor1d([0, 0.25, 0.5, 1]);
    const s = shiftTensor(u, 0.4);
    const got = await s.data();
    [0, 0.25, 0.5, 1].forEach((v, i) => expect(got[i]).toBeCloseTo((0.4 * v) / (1 - 0.6 * v), 6));
    const id = shiftTensor(u, 0);
    expect(Array.from(await id.data())).toEqual([0, 0.25, 0.5, 1]);
    tf.dispose([u, s, id]);
  });
});
