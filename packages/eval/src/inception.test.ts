import * as tf from '@tensorflow/tfjs-core';
import { type RawTensor, toFloat32 } from '@svg/weights';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { read, testBackends, useBackend } from '../../../tools/testing/backends';
import { type Fixture, compareToFixture, expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { type FidInceptionOutputs, type FidInceptionV3, fidInceptionInput, loadFidInception } from './inception';
import { avgPool3x3ExcludePad } from './inception-blocks';

/**
 * Parity with pytorch-fid's InceptionV3 (fid_inception_v3 architecture, random BatchNorm-calibrated weights under the
 * real checkpoint's keys) on the golden fixtures: two 299×299 photographs, and one 80×112 photograph resized inside.
 */
const CASES = ['eval/inception_fid_299', 'eval/inception_fid_80x112'];

const OUTPUTS: [string, keyof FidInceptionOutputs][] = [
  ['features_64', 'features64'],
  ['features_192', 'features192'],
  ['features_768', 'features768'],
  ['mixed_6d_branch1x1', 'mixed6dBranch1x1'],
  ['spatial', 'spatial'],
  ['pool3', 'pool3'],
  ['adm_logits', 'admLogits'],
  ['logits', 'logits'],
];

/** NCHW fixture tensor → NHWC tensor. */
function nhwc(raw: RawTensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(raw), raw.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** Our NHWC `[B, H, W, C]` values in the fixture's NCHW order. */
async function readNCHW(t: tf.Tensor4D): Promise<Float32Array> {
  const n = tf.transpose(t, [0, 3, 1, 2]);
  const v = await read(n);
  n.dispose();
  return v;
}

const report: string[] = [];

for (const backend of testBackends()) {
  describe(`FID Inception v3 on ${backend}`, () => {
    let net: FidInceptionV3;

    beforeAll(async () => {
      await useBackend(backend);
      net = loadFidInception(loadFixture(CASES[0]!).weights());
    });

    afterAll(() => net?.dispose());

    it('the 3×3 average pool divides by the in-image count (count_include_pad=False)', async () => {
      const [b, h, w, c] = [2, 4, 5, 3];
      const data = Float32Array.from({ length: b * h * w * c }, (_, i) => Math.sin(i * 1.7) * 3 + 0.5);
      const want = new Float32Array(data.length);
      for (let n = 0; n < b; n++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++)
            for (let k = 0; k < c; k++) {
              let s = 0;
              let cnt = 0;
              for (let dy = -1; dy <= 1; dy++)
                for (let dx = -1; dx <= 1; dx++) {
                  const yy = y + dy;
                  const xx = x + dx;
                  if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                  s += data[((n * h + yy) * w + xx) * c + k];
                  cnt++;
                }
              want[((n * h + y) * w + x) * c + k] = s / cnt;
            }
      const t = tf.tensor4d(data, [b, h, w, c]);
      const y = avgPool3x3ExcludePad(t);
      const r = compareToFixture(await read(y), { dtype: 'F32', shape: [b, h, w, c], data: want }, { max_abs: 1e-6, rel_l2: 1e-6 });
      tf.dispose([t, y]);
      expect(r.ok, `max_abs ${r.maxAbs}`).toBe(true);
    });

    // On SwiftShader WebGPU (a CPU) one 299² forward takes minutes: there, the one-image case (resize included).
    for (const name of backend === 'webgpu' ? CASES.slice(1) : CASES) {
      it(`${name}: every output within its tolerance; no tensors left behind`, async () => {
        const f: Fixture = loadFixture(name);
        const x = nhwc(f.io.get('x')!);
        const rows: string[] = [];
        if (f.io.has('x_299')) {
          const x299 = fidInceptionInput(x);
          const r = expectClose(`${name} x_299 on ${backend}`, await readNCHW(x299), f.io.get('x_299')!, { max_abs: 2e-5, rel_l2: 2e-6 });
          rows.push(`x_299 ${r.maxAbs.toExponential(2)}/${r.relL2.toExponential(2)} (tol 2e-5/2e-6)`);
          x299.dispose();
        }
        const before = tf.memory().numTensors;
        const out = net.forward(x);
        const afterFirst = tf.memory().numTensors;
        expect(afterFirst - before).toBe(OUTPUTS.length);
        for (const [key, ours] of OUTPUTS) {
          const want = f.io.get(key)!;
          const t = out[ours];
          const got = t.rank === 4 ? await readNCHW(t as tf.Tensor4D) : await read(t);
          expect(t.rank === 4 ? [t.shape[0], t.shape[3], t.shape[1], t.shape[2]] : t.shape).toEqual(want.shape);
          const tol = f.tolerance(key);
          const r = expectClose(`${name} ${key} on ${backend}`, got, want, tol);
          rows.push(`${key} ${r.maxAbs.toExponential(2)}/${r.relL2.toExponential(2)} (tol ${tol.max_abs}/${tol.rel_l2})`);
        }
        report.push(`${backend} ${name}: ${rows.join('; ')}`);
        tf.dispose(Object.values(out));
        expect(tf.memory().numTensors).toBe(before);
        if (backend !== 'webgpu') {
          // A second forward leaves nothing behind either (skipped on SwiftShader WebGPU, where a forward takes minutes).
          const again = net.forward(x);
          tf.dispose(Object.values(again));
          expect(tf.memory().numTensors).toBe(before);
        }
        x.dispose();
      });
    }

    if (backend === 'wasm') {
      it('speed: images/s of the 299×299 forward at batch 2 (printed, not asserted)', async () => {
        const x = tf.randomUniform([2, 299, 299, 3], 0, 1) as tf.Tensor4D;
        const run = async () => {
          const out = net.forward(x);
          await out.pool3.data();
          tf.dispose(Object.values(out));
        };
        await run(); // warm-up
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          await run();
          times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        const ms = times[1]!;
        report.push(`wasm speed: batch 2 at 299² in ${ms.toFixed(0)} ms (median of 3) = ${((2 * 1000) / ms).toFixed(2)} images/s`);
        x.dispose();
      });
    }
  });
}

describe('FID Inception input conventions and state-dict checks (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  const weights = () => new Map(loadFixture(CASES[0]!).weights());

  it('uint8 and [-1, 1] inputs give the pytorch-fid input (x = image_u8 / 255)', async () => {
    const f = loadFixture('eval/inception_fid_80x112');
    const img = f.io.get('image_u8')!;
    const u8 = tf.tensor4d(Int32Array.from(img.data as Uint8Array), img.shape as [number, number, number, number], 'int32');
    const sym = tf.tidy(() => tf.sub(tf.div(tf.cast(u8, 'float32'), 127.5), 1));
    const want = await read(tf.tidy(() => fidInceptionInput(nhwc(f.io.get('x')!))));
    for (const [label, input, range] of [['uint8', u8, undefined], ['symmetric', sym, 'symmetric']] as const) {
      const got = fidInceptionInput(input, { range });
      const r = compareToFixture(await read(got), { dtype: 'F32', shape: got.shape, data: want }, { max_abs: 2e-6, rel_l2: 1e-6 });
      got.dispose();
      expect(r.ok, `${label}: max_abs ${r.maxAbs}`).toBe(true);
    }
    tf.dispose([u8, sym]);
  });

  it('pool3() gives the FID features alone and leaves nothing else behind', async () => {
    const f = loadFixture(CASES[0]!);
    const net = loadFidInception(f.weights());
    const x = nhwc(f.io.get('x')!);
    const before = tf.memory().numTensors;
    const pool3 = net.pool3(x);
    expect(tf.memory().numTensors).toBe(before + 1);
    expectClose('pool3()', await read(pool3), f.io.get('pool3')!, f.tolerance('pool3'));
    tf.dispose([pool3, x]);
    net.dispose();
  });

  it('accepts and ignores *.num_batches_tracked', () => {
    const sd = weights();
    sd.set('Conv2d_1a_3x3.bn.num_batches_tracked', { dtype: 'I64', shape: [], data: new BigInt64Array(1) });
    sd.set('Mixed_7c.branch_pool.bn.num_batches_tracked', { dtype: 'I64', shape: [], data: new BigInt64Array(1) });
    const before = tf.memory().numTensors;
    const net = loadFidInception(sd);
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names missing keys, shape mismatches and unexpected keys in one line', () => {
    const sd = weights();
    sd.delete('Mixed_6d.branch1x1.bn.running_var');
    const w = sd.get('fc.bias')!;
    sd.set('fc.bias', { ...w, shape: [w.shape[0]! - 8], data: (w.data as Float32Array).subarray(8) });
    sd.set('AuxLogits.fc.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    let message = '';
    try {
      loadFidInception(sd).dispose();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).not.toContain('\n');
    expect(message).toContain('missing keys (1): Mixed_6d.branch1x1.bn.running_var');
    expect(message).toContain('fc.bias: expected [1008], got [1000]');
    expect(message).toContain('unexpected keys (1): AuxLogits.fc.weight');
  });
});

afterAll(() => {
  if (report.length) console.log(`FID Inception parity (max_abs/rel_l2):\n${report.join('\n')}`);
});
