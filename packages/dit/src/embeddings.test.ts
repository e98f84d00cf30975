import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@svg/nn';
import { toFloat32 } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, testBackends, useBackend } from '../../../tools/testing/backends';
import { loadFixture } from '../../../tools/testing/fixtures';
import { LabelEmbedder, accurateCosSin, sinCosPositionTable, timestepFeatures, timestepTable } from './index';

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('host tables', () => {
  it('pos_embed equals the table upstream stored in the fixture state dict', () => {
    for (const name of ['dit', 'dit_noqknorm']) {
      const stored = loadFixture(name).weights().get('pos_embed')!;
      expect(maxDiff(sinCosPositionTable(stored.shape[2], 16), toFloat32(stored))).toBeLessThan(1e-7);
    }
  });

  it('pos_embed: first half encodes the column, second the row (spec §3.3)', () => {
    const D = 16;
    const table = sinCosPositionTable(D, 16);
    const n = 3 * 16 + 5; // row 3, column 5
    expect(table[n * D + 0]).toBeCloseTo(Math.sin(5), 6);
    expect(table[n * D + 4]).toBeCloseTo(Math.cos(5), 6);
    expect(table[n * D + 8]).toBeCloseTo(Math.sin(3), 6);
    expect(table[n * D + 12 + 1]).toBeCloseTo(Math.cos(3 / 10000 ** (1 / 4)), 6);
  });

  it('timestep table is [cos, sin] of t·exp(−ln(1e4)·k/128), t not scaled', () => {
    const table = timestepTable([0.25, 1]);
    expect(table.length).toBe(512);
    expect(table[0]).toBeCloseTo(Math.cos(0.25), 7);
    expect(table[128]).toBeCloseTo(Math.sin(0.25), 7);
    expect(table[256 + 128 + 127]).toBeCloseTo(Math.sin(Math.exp((-Math.log(10000) * 127) / 128)), 7);
  });
});

for (const backend of testBackends()) {
  describe(`embeddings on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    it('device cos/sin is accurate to 1e-6 over a wide range (WebGPU native sin is ~2e-4)', async () => {
      const xs = Float32Array.from({ length: 2000 }, (_, i) => (i - 1000) * 0.7071 + (i % 7) * 0.013);
      const [c, s] = accurateCosSin(tf.tensor1d(xs));
      expect(maxDiff(await read(c), Array.from(xs, Math.cos))).toBeLessThan(1e-6);
      expect(maxDiff(await read(s), Array.from(xs, Math.sin))).toBeLessThan(1e-6);
      tf.dispose([c, s]);
    });

    it('tensor timesteps give the host table', async () => {
      const t = [0, 0.123, 0.5, 0.999, 1];
      const f = timestepFeatures(tf.tensor1d(t));
      expect(f.shape).toEqual([5, 256]);
      expect(maxDiff(await read(f), timestepTable(t))).toBeLessThan(1e-6);
      // Large t: the float32 argument t·freq (as upstream computes it) carries the only difference.
      const bigT = timestepFeatures(tf.tensor1d([37.5, 999]));
      const big = await read(bigT);
      const fr = Math.fround;
      const args = [37.5, 999].flatMap((v) => Array.from({ length: 128 }, (_, k) => fr(fr(v) * fr(Math.exp((-Math.log(10000) * k) / 128)))));
      const ref = [0, 1].flatMap((b) => [...args.slice(b * 128, b * 128 + 128).map(Math.cos), ...args.slice(b * 128, b * 128 + 128).map(Math.sin)]);
      expect(maxDiff(big, ref)).toBeLessThan(1e-6);
      tf.dispose([f, bigT]);
    });

    it('label dropout: seeded, training only, force_drop_ids in any mode', async () => {
      const emb = new LabelEmbedder(10, 4, 0.5);
      const table = tf.tensor2d(Array.from({ length: 44 }, (_, i) => i), [11, 4]);
      emb.table.weight.set(table);
      const labels = Array.from({ length: 64 }, (_, i) => i % 10);
      const rowIds = async (out: tf.Tensor) => Array.from(await read(out)).filter((_, i) => i % 4 === 0).map((v) => v / 4);
      // eval: labels as given, from host arrays or tensors
      expect(await rowIds(emb.forward(labels, new SeededRandom(1)))).toEqual(labels);
      expect(await rowIds(emb.forward(tf.tensor1d(labels, 'int32'), new SeededRandom(1)))).toEqual(labels);
      // train: each label independently → null (10) with p = 0.5, reproducibly
      emb.train();
      const a = await rowIds(emb.forward(labels, new SeededRandom(5)));
      const b = await rowIds(emb.forward(tf.tensor1d(labels, 'int32'), new SeededRandom(5)));
      expect(a).toEqual(b);
      const dropped = a.filter((v) => v === 10).length;
      expect(dropped).toBeGreaterThan(16);
      expect(dropped).toBeLessThan(48);
      a.forEach((v, i) => expect(v === 10 || v === labels[i]).toBe(true));
      // force_drop_ids replaces the random draw
      emb.eval();
      const force = labels.map((_, i) => (i % 3 === 0 ? 1 : 0));
      const forced = await rowIds(emb.forward(labels, new SeededRandom(5), tf.tensor1d(force, 'int32')));
      expect(forced).toEqual(labels.map((l, i) => (force[i] ? 10 : l)));
      emb.dispose();
    });
  });
}
