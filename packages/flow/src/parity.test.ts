// The flow code against the official implementation (shared/fixtures), run with the real @svg/dit on every test
// backend: the rectified-flow loss (flow_loss) and the sampler's trajectories (flow_sample).
import * as tf from '@tensorflow/tfjs-core';
import { type DiT, configFromUpstream, loadDiT } from '@svg/dit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { read, testBackends, useBackend } from '../../../tools/testing/backends';
import { expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { rectifiedFlowLoss } from './loss';
import { type SolverName } from './settings';
import { sample } from './solvers/samplers';
import { toTensor } from './testing/setup';

const report = (fixture: string, name: string, r: { maxAbs: number; relL2: number }, tol: unknown) =>
  console.log(`${fixture} ${name}: max_abs ${r.maxAbs.toExponential(2)} rel_l2 ${r.relL2.toExponential(2)} (tol ${JSON.stringify(tol)})`);

for (const backend of testBackends()) {
  describe(`flow parity on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('flow_loss: loss, per-sample mse and shifted t for given noise and uniform t (shift 0.4)', async () => {
      const fx = loadFixture('flow_loss');
      const model = loadDiT(fx.weights(), configFromUpstream(fx.json.config.dit));
      const [x, y, z0, u] = ['x', 'y', 'z0', 't_uniform'].map((k) => toTensor(fx.io.get(k)!));
      const { loss, mse, t } = rectifiedFlowLoss((z, tt, yy) => model.forward(z as tf.Tensor3D, tt as tf.Tensor1D, yy as tf.Tensor1D), x!, y, {
        shift: fx.json.config.timestep_shift,
        noise: z0,
        uniform: await read(u!),
      });
      expect(loss.shape).toEqual([]);
      for (const [name, got] of [['loss', loss], ['mse', mse], ['t_shifted', t]] as const) {
        report('flow_loss', name, expectClose(name, await read(got), fx.io.get(name)!, fx.tolerance(name)), fx.tolerance(name));
      }
      tf.dispose([x!, y!, z0!, u!, loss, mse, t]);
      model.dispose();
    });

    describe('flow_sample: batch 1, label 207, null label 1000, 5 steps, shift 0.15, cfg 4', () => {
      const fx = loadFixture('flow_sample');
      const cfg = fx.json.config;
      let model: DiT;
      let z: tf.Tensor;
      let y: tf.Tensor;
      let yNull: tf.Tensor;
      beforeAll(() => {
        model = loadDiT(fx.weights(), configFromUpstream(cfg.dit));
        [z, y, yNull] = ['z', 'y', 'y_null'].map((k) => toTensor(fx.io.get(k)!)) as [tf.Tensor, tf.Tensor, tf.Tensor];
      });
      afterAll(() => {
        tf.dispose([z, y, yNull]);
        model.dispose();
      });

      for (const run of cfg.runs as { output: string; mode: SolverName; cfg_mode: string; cfg: number; null_cond: boolean; record_steps: boolean }[]) {
        it(`${run.output}: ${run.mode}, ${run.null_cond ? run.cfg_mode : 'no cfg'}`, async () => {
          const before = tf.memory().numTensors;
          const trajectory: Float32Array[] = [await read(z)];
          const out = await sample((zz, tt, yy) => model.forward(zz as tf.Tensor3D, tt as tf.Tensor1D, yy as tf.Tensor1D), z, {
            y,
            yNull: run.null_cond ? yNull : undefined,
            steps: cfg.sample_steps,
            shift: cfg.timestep_shift,
            cfg: run.cfg,
            mode: run.mode,
            cfgMode: run.cfg_mode,
            onStep: async ({ z: zk }) => {
              trajectory.push(await read(zk));
            },
          });
          expect(trajectory.length).toBe(cfg.sample_steps + 1);
          report('flow_sample', run.output, expectClose(run.output, await read(out), fx.io.get(run.output)!, fx.tolerance(run.output)), fx.tolerance(run.output));
          if (run.record_steps) {
            const name = `${run.output}_trajectory`;
            const flat = new Float32Array(trajectory.reduce((n, a) => n + a.length, 0));
            trajectory.reduce((o, a) => (flat.set(a, o), o + a.length), 0);
            report('flow_sample', name, expectClose(name, flat, fx.io.get(name)!, fx.tolerance(name)), fx.tolerance(name));
          }
          out.dispose();
          expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
        });
      }
    });
  });
}
