import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { StateDictMismatchError } from '@svg/nn';
import { type RawTensor, findStateDict, readTorchCheckpoint, toFloat32, writeSafetensors } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, useBackend } from '../../../tools/testing/backends';
import { expectClose, fixturesDir, loadFixture } from '../../../tools/testing/fixtures';
import { createDinov3, inferDinov3Config, loadDinov3, prepareStateDict } from './index';

const TEST_DATA = join(__dirname, '..', 'test-data');
const AUTOENCODER = join(fixturesDir(), 'svg_autoencoder.weights.safetensors');

const nhwc = (raw: RawTensor) => tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(raw), raw.shape as [number, number, number, number]), [0, 2, 3, 1]));

describe('loadDinov3', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('reads an official-format .pth with bf16 periods, infers a custom config, and matches a float64 spec model', async () => {
    // tiny_vit.pth: D 32, 2 heads, depth 2, patch 8, SwiGLU 64, written by scripts/make_tiny_checkpoint.py.
    const model = await loadDinov3(join(TEST_DATA, 'tiny_vit.pth'));
    expect(model.config).toMatchObject({ embedDim: 32, numHeads: 2, depth: 2, patchSize: 8, ffnLayer: 'swiglu', nStorageTokens: 4 });
    expect(Array.from(model.ropeEmbed.getPeriods())).toEqual([1, 3.15625, 10, 31.625]); // bf16, from the file
    const expected = findStateDict(readTorchCheckpoint(new Uint8Array(readFileSync(join(TEST_DATA, 'tiny_vit_expected.pt')))));
    const x = nhwc(expected.get('x')!); // 27×43: floor-cropped to a 3×5 grid
    const out = model.forwardFeatures(x);
    const tol = { max_abs: 2e-5, rel_l2: 2e-6 };
    expectClose('clsToken', await read(out.clsToken), expected.get('x_norm_clstoken')!, tol);
    expectClose('storageTokens', await read(out.storageTokens), expected.get('x_storage_tokens')!, tol);
    expectClose('patchTokens', await read(out.patchTokens), expected.get('x_norm_patchtokens')!, tol);
    expectClose('prenorm', await read(out.prenorm), expected.get('x_prenorm')!, tol);
    tf.dispose([x, out.clsToken, out.storageTokens, out.patchTokens, out.prenorm]);
    model.dispose();
  });

  it('finds the encoder. backbone in an SVG autoencoder safetensors file (path, file URL or bytes) and infers ViT-S/16+ depth 2', async () => {
    const f = loadFixture('dinov3_vits16plus_d2_48x80');
    const x = nhwc(f.io.get('x')!);
    for (const source of [AUTOENCODER, pathToFileURL(AUTOENCODER), new Uint8Array(readFileSync(AUTOENCODER))]) {
      const model = await loadDinov3(source);
      expect(model.config.depth).toBe(2);
      expect(model.config.ffnLayer).toBe('swiglu');
      const out = model.forwardFeatures(x);
      expectClose('patchTokens', await read(out.patchTokens), f.io.get('x_norm_patchtokens')!, f.tolerance('x_norm_patchtokens'));
      tf.dispose(Object.values(out));
      model.dispose();
    }
    x.dispose();
  });

  it('infers the hub preset from full-size shapes', () => {
    for (const name of ['vits16', 'vits16plus', 'vitb16', 'vitl16', 'vitl16plus', 'vith16plus', 'vit7b16'] as const) {
      const model = createDinov3(name);
      const shapes = new Map(model.namedParameters().map(([k, p]) => [k, { dtype: 'F32', shape: p.torchShape, data: new Float32Array(0) } as RawTensor]));
      if (shapes.has('blocks.0.attn.qkv.bias')) shapes.set('blocks.0.attn.qkv.bias', { dtype: 'F32', shape: [3 * model.embedDim], data: new Float32Array(3 * model.embedDim) });
      const inferred = inferDinov3Config(shapes);
      expect(inferred.preset).toBe(name);
      expect(inferred.config).toEqual(model.config);
    }
  });

  it('explains a preset mismatch key by key, with shapes', async () => {
    const bytes = new Uint8Array(readFileSync(AUTOENCODER));
    const err = await loadDinov3(bytes, 'vits16').catch((e) => e);
    expect(err).toBeInstanceOf(StateDictMismatchError);
    expect(err.message).toMatch(/blocks\.2\.norm1\.weight/); // missing: the file has 2 blocks, the preset 12
    expect(err.message).toMatch(/unexpected keys .*blocks\.0\.mlp\.w1\.weight/); // SwiGLU weights in an MLP model
    const shapeErr = await loadDinov3(bytes, { ...createDinov3('vits16plus').config, depth: 2, embedDim: 192, numHeads: 3 }).catch((e) => e);
    expect(shapeErr.message).toMatch(/cls_token: expected \[1,1,192\], got \[1,1,384\]/);
  });

  it('rejects non-DINOv3 weights clearly', async () => {
    const other = writeSafetensors(new Map([['decoder.conv_in.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) } as RawTensor]]));
    await expect(loadDinov3(other)).rejects.toThrow(/not a DINOv3 ViT state dict/);
  });

  it('prepareStateDict strips an explicit prefix and leaves official names alone', () => {
    const sd = new Map<string, RawTensor>([['enc.cls_token', { dtype: 'F32', shape: [1, 1, 2], data: new Float32Array(2) }]]);
    expect([...prepareStateDict(sd, 'enc.').sd.keys()]).toEqual(['cls_token']);
    expect([...prepareStateDict(sd).sd.keys()]).toEqual(['cls_token']); // detected
    expect(() => prepareStateDict(sd, 'nope.')).toThrow(/prefix 'nope\.'/);
  });
});
