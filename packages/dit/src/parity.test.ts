import * as tf from '@tensorflow/tfjs-core';
import { toFloat32, toInt32 } from '@svg/weights';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { read, testBackends, useBackend } from '../../../tools/testing/backends';
import { expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { type DiT, configFromUpstream, loadDiT } from './index';

// Golden outputs of the official models_SVG.DiT (eval mode) on perturbed random weights.
const CASES = ['dit', 'dit_noqknorm'];

for (const backend of testBackends()) {
  describe(`DiT parity on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    for (const name of CASES) {
      describe(name, () => {
        const fx = loadFixture(name);
        const [B, T, C] = fx.io.get('x')!.shape;
        const t = toFloat32(fx.io.get('t')!);
        const y = toInt32(fx.io.get('y')!);
        let model: DiT;
        let x: tf.Tensor3D;

        beforeAll(() => {
          model = loadDiT(fx.weights(), configFromUpstream(fx.json.config.dit));
          x = tf.tensor3d(toFloat32(fx.io.get('x')!), [B, T, C]);
        });
        afterAll(() => {
          model.dispose();
          x.dispose();
        });

        it('matches with t and y given on the host', async () => {
          expect(Array.from(y)).toEqual(fx.json.config.y);
          const out = model.forward(x, t, y);
          expect(out.shape).toEqual(fx.json.shapes.out);
          const r = expectClose(`${name}/${backend}/host`, await read(out), fx.io.get('out')!, fx.tolerance('out'));
          console.log(`[parity] ${name} ${backend} host-t: max_abs ${r.maxAbs.toExponential(2)} rel_l2 ${r.relL2.toExponential(2)}`);
          out.dispose();
        });

        it('matches with t and y given as tensors, leaving no tensors behind', async () => {
          const tt = tf.tensor1d(t);
          const yt = tf.tensor1d(y, 'int32');
          const before = tf.memory().numTensors;
          const out = model.forward(x, tt, yt);
          const r = expectClose(`${name}/${backend}/tensor`, await read(out), fx.io.get('out')!, fx.tolerance('out'));
          console.log(`[parity] ${name} ${backend} tensor-t: max_abs ${r.maxAbs.toExponential(2)} rel_l2 ${r.relL2.toExponential(2)}`);
          out.dispose();
          expect(tf.memory().numTensors).toBe(before);
          tf.dispose([tt, yt]);
        });
      });
    }
  });
}
