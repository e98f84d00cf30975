import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, loadFixture } from '../../../../tools/testing/fixtures';
import { referenceDit } from '../testing/reference-dit';
import { toTensor, useCpu } from '../testing/setup';
import type { VelocityFn } from '../velocity';
import { type SolverName, sample } from './samplers';

// flow_sample: full trajectories of the reference sampler with the small fixture DiT (dit.weights.safetensors),
// batch 1, label 207, null label 1000, 5 steps, shift 0.15, cfg 4.
const fx = loadFixture('flow_sample');
const cfg = fx.json.config;

// The DiT is deterministic, so identical calls (same z bits, t and y) are served from a cache: many runs share
// their first steps (all start at the same z; Heun's predictor equals the Euler step). Halves the test time.
let model: (x: tf.Tensor, t: tf.Tensor, y: tf.Tensor) => tf.Tensor;
const cache = new Map<string, tf.Tensor>();
let calls = 0;
const cachedModel: VelocityFn<tf.Tensor> = (z, t, y) => {
  calls++;
  const key = `${hash(z.dataSync() as Float32Array)}|${t.dataSync()[0]}|${y.dataSync()[0]}`;
  let out = cache.get(key);
  if (!out) {
    out = tf.keep(model(z, t, y));
    cache.set(key, out);
  }
  return tf.clone(out);
};

function hash(a: Float32Array): string {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let h1 = 0x811c9dc5;
  let h2 = 0x12345678;
  for (let i = 0; i < u.length; i++) {
    h1 = Math.imul(h1 ^ u[i], 16777619);
    h2 = Math.imul(h2 + u[i], 2654435761) ^ (h2 >>> 15);
  }
  return `${u.length}:${(h1 >>> 0).toString(16)}:${(h2 >>> 0).toString(16)}`;
}

let z: tf.Tensor;
let y: tf.Tensor;
let yNull: tf.Tensor;

beforeAll(async () => {
  await useCpu();
  const d = cfg.dit;
  model = referenceDit(fx.weights(), { hiddenSize: d.hidden_size, depth: d.depth, numHeads: d.num_heads });
  z = toTensor(fx.io.get('z')!);
  y = toTensor(fx.io.get('y')!);
  yNull = toTensor(fx.io.get('y_null')!);
});

afterAll(() => {
  console.log(`flow_sample: ${calls} model calls, ${cache.size} distinct`);
  tf.dispose([...cache.values()]);
});

describe('sample() parity with flow_sample', () => {
  for (const run of cfg.runs as { output: string; mode: SolverName; cfg_mode: string; cfg: number; null_cond: boolean; record_steps: boolean }[]) {
    it(`${run.output}: ${run.mode}, ${run.null_cond ? run.cfg_mode : 'no cfg'}`, async () => {
      const trajectory: Float32Array[] = [await z.data() as Float32Array];
      const out = await sample(cachedModel, z, {
        y,
        yNull: run.null_cond ? yNull : undefined,
        steps: cfg.sample_steps,
        shift: cfg.timestep_shift,
        cfg: run.cfg,
        mode: run.mode,
        cfgMode: run.cfg_mode,
        onStep: async ({ z: zk }) => {
          trajectory.push((await zk.data()) as Float32Array);
        },
      });
      expect(trajectory.length).toBe(cfg.sample_steps + 1);
      const r = expectClose(run.output, await out.data(), fx.io.get(run.output)!, fx.tolerance(run.output));
      console.log(`${run.output}: max_abs ${r.maxAbs.toExponential(2)} rel_l2 ${r.relL2.toExponential(2)} (tol ${JSON.stringify(fx.tolerance(run.output))})`);
      if (run.record_steps) {
        const name = `${run.output}_trajectory`;
        const flat = new Float32Array(trajectory.reduce((n, a) => n + a.length, 0));
        trajectory.reduce((o, a) => (flat.set(a, o), o + a.length), 0);
        const t = expectClose(name, flat, fx.io.get(name)!, fx.tolerance(name));
        console.log(`${name}: max_abs ${t.maxAbs.toExponential(2)} rel_l2 ${t.relL2.toExponential(2)} (tol ${JSON.stringify(fx.tolerance(name))})`);
      }
      out.dispose();
    });
  }
});
