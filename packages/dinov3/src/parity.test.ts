import * as tf from '@tensorflow/tfjs-core';
import { toFloat32 } from '@svg/weights';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { read, testBackends, useBackend } from '../../../tools/testing/backends';
import { type Fixture, compareToFixture, expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { type Dinov3Config, type Dinov3Features, Dinov3ViT, preprocess, resolveConfig } from './index';

/**
 * Parity with the golden PyTorch fixtures (official dinov3 code, random perturbed weights, non-zero k bias,
 * float32 periods), all five cases on every backend (the 256×256 one takes ~10 s on SwiftShader WebGPU).
 */
const ALL_CASES = ['dinov3_vits16plus_d2_64x64', 'dinov3_vits16plus_d2_48x80', 'dinov3_vits16plus_d2_256', 'dinov3_vits16_d1_64x64', 'dinov3_vits16_d1_32x80'];

const OUTPUTS: [string, keyof Dinov3Features][] = [
  ['x_norm_clstoken', 'clsToken'],
  ['x_storage_tokens', 'storageTokens'],
  ['x_norm_patchtokens', 'patchTokens'],
  ['x_prenorm', 'prenorm'],
];

/** The fixture's resolved upstream kwargs as our config. */
function fixtureConfig(f: Fixture): Dinov3Config {
  const k = f.json.config.dinov3.resolved_kwargs;
  return resolveConfig({
    imgSize: k.img_size,
    patchSize: k.patch_size,
    inChans: k.in_chans,
    posEmbedRopeBase: k.pos_embed_rope_base,
    posEmbedRopeNormalizeCoords: k.pos_embed_rope_normalize_coords,
    posEmbedRopeRescaleCoords: k.pos_embed_rope_rescale_coords,
    posEmbedRopeDtype: k.pos_embed_rope_dtype,
    embedDim: k.embed_dim,
    depth: k.depth,
    numHeads: k.num_heads,
    ffnRatio: k.ffn_ratio,
    qkvBias: k.qkv_bias,
    dropPathRate: k.drop_path_rate,
    layerscaleInit: k.layerscale_init,
    normLayer: k.norm_layer,
    ffnLayer: k.ffn_layer,
    ffnBias: k.ffn_bias,
    projBias: k.proj_bias,
    nStorageTokens: k.n_storage_tokens,
    maskKBias: k.mask_k_bias,
  });
}

/** NCHW fixture input → NHWC tensor. */
function inputNHWC(f: Fixture): tf.Tensor4D {
  const x = f.io.get('x')!;
  return tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(x), x.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

const report: string[] = [];

for (const backend of testBackends()) {
  describe(`DINOv3 fixtures on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    for (const name of ALL_CASES) {
      it(`${name}: every output within its tolerance; no tensors left behind`, async () => {
        const f = loadFixture(name);
        const model = new Dinov3ViT(fixtureConfig(f));
        model.loadStateDict(f.weights());
        const x = inputNHWC(f);
        const before = tf.memory().numTensors;
        const out = model.forwardFeatures(x);
        const afterFirst = tf.memory().numTensors;
        const rows: string[] = [];
        for (const [key, ours] of OUTPUTS) {
          const want = f.io.get(key)!;
          expect(out[ours].shape).toEqual(want.shape);
          const r = expectClose(`${name} ${key} on ${backend}`, await read(out[ours]), want, f.tolerance(key));
          rows.push(`${key} ${r.maxAbs.toExponential(2)}/${r.relL2.toExponential(2)} (tol ${f.tolerance(key).max_abs}/${f.tolerance(key).rel_l2})`);
        }
        report.push(`${backend} ${name}: ${rows.join('; ')}`);
        Object.values(out).forEach((t) => t.dispose());
        // A second batch (RoPE tables now cached) leaves exactly nothing behind.
        const again = model.forwardFeatures(x);
        Object.values(again).forEach((t) => t.dispose());
        expect(tf.memory().numTensors).toBe(afterFirst - 4);
        expect(afterFirst - 4 - before).toBeLessThanOrEqual(2); // the cached cos/sin tables, if first use
        x.dispose();
        model.dispose();
      });
    }
  });
}

describe('preprocess against the fixture input', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('uint8 crops → the ImageNet-normalised x of dinov3_vits16plus_d2_256 (ToTensor + Normalize)', async () => {
    const f = loadFixture('dinov3_vits16plus_d2_256');
    const img = f.io.get('image_u8')!;
    const x = preprocess(tf.tensor4d(Int32Array.from(img.data as Uint8Array), img.shape as [number, number, number, number], 'int32'));
    const want = inputNHWC(f);
    const r = compareToFixture(await read(x), { dtype: 'F32', shape: want.shape, data: await read(want) }, { max_abs: 1e-6, rel_l2: 1e-7 });
    expect(r.maxAbs).toBeLessThanOrEqual(1e-6);
  });

  it('[-1, 1] images (SVG convention) give the same input up to float rounding', async () => {
    const f = loadFixture('dinov3_vits16plus_d2_256');
    const img = f.io.get('image_u8')!;
    const sym = tf.tidy(() => tf.sub(tf.div(tf.tensor(Float32Array.from(img.data as Uint8Array), img.shape), 127.5), 1));
    const x = preprocess(sym, { range: 'symmetric' });
    const want = inputNHWC(f);
    const r = compareToFixture(await read(x), { dtype: 'F32', shape: want.shape, data: await read(want) }, { max_abs: 1e-5, rel_l2: 1e-6 });
    expect(r.ok).toBe(true);
  });
});

afterAll(() => {
  if (report.length) console.log(`DINOv3 parity (max_abs/rel_l2):\n${report.join('\n')}`);
});
