import * as tf from '@tensorflow/tfjs-core';
import { toFloat32 } from '@svg/weights';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends, useBackend } from '../../../tools/testing/backends';
import { expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { type SvgAutoencoder, createSvgAutoencoder } from './index';
import { fixtureConfig, formatResult, nhwcOf, readChannelsFirst, readNCHW } from './test-support';

/**
 * Parity of the whole autoencoder with svg_autoencoder_encode / svg_autoencoder_decode (DINOv3 depth 2, residual ViT
 * with 1 layer, decoder ch 32, real photograph), on every backend (on SwiftShader WebGPU: ~25 s encode, ~70 s decode).
 * The memory and training-mode checks need many forward passes: they run on wasm, the fast backend.
 */
const CASES: Record<string, string[]> = {
  cpu: ['svg_autoencoder_encode', 'svg_autoencoder_decode'],
  wasm: ['svg_autoencoder_encode', 'svg_autoencoder_decode', 'memory', 'training mode'],
  webgpu: ['svg_autoencoder_encode', 'svg_autoencoder_decode'],
};

const report: string[] = [];
afterAll(() => console.log(`parity (autoencoder):\n${report.join('\n')}`));

for (const backend of testBackends()) {
  const cases = CASES[backend] ?? CASES.cpu;
  if (cases.length === 0) continue;
  describe(`SvgAutoencoder on ${backend}`, () => {
    let model: SvgAutoencoder;
    const encodeCase = loadFixture('svg_autoencoder_encode');

    beforeAll(async () => {
      await useBackend(backend);
      model = createSvgAutoencoder(fixtureConfig(encodeCase));
      model.loadStateDict(encodeCase.weights());
    });
    afterAll(() => model.dispose());

    const tests: Record<string, () => Promise<void>> = {
      async svg_autoencoder_encode() {
        const f = encodeCase;
        const x = nhwcOf(f.io.get('x')!);
        const out = model.encodeDetailed(x);
        const checks: [string, Float32Array][] = [
          ['x_norm_patchtokens', Float32Array.from(await out.patchTokens.data())],
          ['h_vit', await readChannelsFirst(out.hVit!)],
          ['h_vit_matched', await readChannelsFirst(out.hVitMatched!)],
          ['z', await readNCHW(out.latent)],
        ];
        expect(out.latent.shape).toEqual([1, 16, 16, 392]);
        for (const [name, data] of checks) {
          const r = expectClose(name, data, f.io.get(name)!, f.tolerance(name));
          report.push(formatResult(backend, `svg_autoencoder_encode/${name}`, r));
        }
        // The public path: uint8 crop → [-1, 1] → encode (re-normalises itself).
        const u8 = f.io.get('image_u8')!;
        const images = tf.tidy(() => tf.sub(tf.div(tf.tensor(toFloat32(u8), u8.shape), 127.5), 1) as tf.Tensor4D);
        const z = model.encode(images);
        const r = expectClose('z (from [-1, 1] image)', await readNCHW(z), f.io.get('z')!, f.tolerance('z'));
        report.push(formatResult(backend, 'svg_autoencoder_encode/z via encode()', r));
        tf.dispose([x, images, z, out.patchTokens, out.hVit!, out.hVitMatched!, out.latent]);
      },

      async svg_autoencoder_decode() {
        const f = loadFixture('svg_autoencoder_decode');
        const z = nhwcOf(f.io.get('z')!);
        const x = model.decode(z);
        expect(x.shape).toEqual([1, 256, 256, 3]);
        const r = expectClose('x_rec', await readNCHW(x), f.io.get('x_rec')!, f.tolerance('x_rec'));
        report.push(formatResult(backend, 'svg_autoencoder_decode', r));
        const clamped = model.decode(z, { clamp: true });
        const [raw, values] = [await x.data(), await clamped.data()];
        expect(raw.some((v) => Math.abs(v) > 1)).toBe(true);
        expect(values.every((v, i) => v === Math.min(1, Math.max(-1, raw[i])))).toBe(true);
        tf.dispose([z, x, clamped]);
      },

      async memory() {
        const images = tf.randomUniform([1, 256, 256, 3], -1, 1) as tf.Tensor4D;
        model.reconstruct(images).dispose();
        const before = tf.memory().numTensors;
        for (let i = 0; i < 2; i++) {
          const z = model.encode(images);
          model.decode(z).dispose();
          z.dispose();
        }
        expect(tf.memory().numTensors).toBe(before);
        images.dispose();
      },

      async 'training mode'() {
        const x = nhwcOf(encodeCase.io.get('x')!);
        const batch = tf.concat([x, tf.reverse(x, 2)]) as tf.Tensor4D;
        const maskToken = model.maskToken!;
        model.train();
        try {
          expect(model.encoder!.training).toBe(false);
          expect(model.extraVit!.training).toBe(true);
          const out = model.encodeDetailed(batch, [true, false]);
          // Sample 0's whole residual map is the mask token (per channel, the same for every token).
          const hVit = await out.hVit!.data();
          const token = await maskToken.value.data();
          for (let n = 0; n < 256; n++) for (let c = 0; c < 8; c++) expect(hVit[n * 8 + c]).toBe(token[c]);
          expect(Array.from(hVit.slice(256 * 8, 256 * 8 + 8))).not.toEqual(Array.from(token));
          tf.dispose([out.patchTokens, out.hVit!, out.hVitMatched!, out.latent]);
          // The mask token is trained through match_distribution; DINOv3 is frozen (no variables).
          const { grads } = tf.variableGrads(() => tf.sum(model.encodeDetailed(batch, [true, true]).latent) as tf.Scalar, [maskToken.variable]);
          const g = await grads[maskToken.variable.name].data();
          expect(g.every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
          tf.dispose(grads);
          expect(model.encoder!.namedParameters().every(([, p]) => !p.trainable)).toBe(true);
        } finally {
          model.eval();
          tf.dispose([x, batch]);
        }
        expect(model.extraVit!.training).toBe(false);
      },
    };

    for (const name of cases) it(name, tests[name]);
  });
}
