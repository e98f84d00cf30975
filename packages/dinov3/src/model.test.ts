import * as tf from '@tensorflow/tfjs-core';
import { type RawTensor, toFloat32 } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, useBackend } from '../../../tools/testing/backends';
import { expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { Dinov3ViT, createDinov3, fromHuggingFace, isHuggingFaceStateDict, ropePeriods } from './index';

const CASE = 'dinov3_vits16plus_d2_48x80';

/** Official → Hugging Face names, following convert_dinov3_vit_to_hf.py as spec §3.3 describes it. */
function toHuggingFace(sd: ReadonlyMap<string, RawTensor>): Map<string, RawTensor> {
  const renames: [RegExp, string][] = [
    [/^cls_token$/, 'embeddings.cls_token'],
    [/^mask_token$/, 'embeddings.mask_token'],
    [/^storage_tokens$/, 'embeddings.register_tokens'],
    [/^patch_embed\.proj/, 'embeddings.patch_embeddings'],
    [/periods/, 'inv_freq'],
    [/rope_embed/, 'rope_embeddings'],
    [/^blocks\.(\d+)\.attn\.proj/, 'layer.$1.attention.o_proj'],
    [/^blocks\.(\d+)\.attn\./, 'layer.$1.attention.'],
    [/^blocks\.(\d+)\.ls(\d)\.gamma/, 'layer.$1.layer_scale$2.lambda1'],
    [/^blocks\.(\d+)\.mlp\.fc1/, 'layer.$1.mlp.up_proj'],
    [/^blocks\.(\d+)\.mlp\.fc2/, 'layer.$1.mlp.down_proj'],
    [/^blocks\.(\d+)\.mlp/, 'layer.$1.mlp'],
    [/^blocks\.(\d+)\.norm/, 'layer.$1.norm'],
    [/w1/, 'gate_proj'],
    [/w2/, 'up_proj'],
    [/w3/, 'down_proj'],
  ];
  const out = new Map<string, RawTensor>();
  for (const [key, t] of sd) {
    if (key.endsWith('bias_mask') || key.startsWith('local_cls_norm') || key === 'rope_embed.periods') continue;
    const qkv = /^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$/.exec(key);
    if (qkv) {
      const n = t.shape[0] / 3;
      const per = t.shape.slice(1).reduce((a, b) => a * b, 1) * n;
      const data = toFloat32(t);
      ['q', 'k', 'v'].forEach((s, i) => {
        if (s === 'k' && qkv[2] === 'bias') return; // HF has no k bias
        out.set(`layer.${qkv[1]}.attention.${s}_proj.${qkv[2]}`, { dtype: 'F32', shape: [n, ...t.shape.slice(1)], data: data.slice(i * per, (i + 1) * per) });
      });
      continue;
    }
    const name = renames.reduce((k, [re, to]) => k.replace(re, to), key);
    out.set(name, name === 'embeddings.mask_token' ? { ...t, shape: [1, ...t.shape] } : t);
  }
  return out;
}

const nhwc = (raw: RawTensor) => tf.tidy(() => tf.transpose(tf.tensor4d(toFloat32(raw), raw.shape as [number, number, number, number]), [0, 2, 3, 1]));

describe('Dinov3ViT', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  const fixtureModel = () => {
    const f = loadFixture(CASE);
    const model = createDinov3('vits16plus', { depth: 2 });
    model.loadStateDict(f.weights());
    return { f, model, x: nhwc(f.io.get('x')!) };
  };

  it('loads Hugging Face DINOv3ViTModel names: same outputs as the official names (exact periods), bf16 periods by default', async () => {
    const { f, model, x } = fixtureModel();
    const hf = toHuggingFace(f.weights());
    expect(isHuggingFaceStateDict(hf)).toBe(true);
    expect(hf.has('layer.0.attention.k_proj.bias')).toBe(false);
    expect(hf.get('embeddings.mask_token')!.shape).toEqual([1, 1, 384]);
    const hfModel = createDinov3('vits16plus', { depth: 2 });
    hfModel.loadStateDict(hf, { ropePeriods: 'exact' }); // the fixture was made with float32 periods
    const [a, b] = [model.forwardFeatures(x), hfModel.forwardFeatures(x)];
    for (const key of ['clsToken', 'storageTokens', 'patchTokens', 'prenorm'] as const) {
      expectClose(`HF ${key}`, await read(b[key]), { dtype: 'F32', shape: a[key].shape, data: await read(a[key]) }, { max_abs: 1e-5, rel_l2: 1e-6 });
    }
    expectClose('HF patch tokens vs fixture', await read(b.patchTokens), f.io.get('x_norm_patchtokens')!, f.tolerance('x_norm_patchtokens'));
    tf.dispose([...Object.values(a), ...Object.values(b)]);
    hfModel.loadStateDict(hf); // default for HF files: the official (bf16) periods
    expect(Array.from(hfModel.ropeEmbed.getPeriods())).toEqual(Array.from(ropePeriods(64, { base: 100, dtype: 'bf16' })));
    x.dispose();
  });

  it('Hugging Face key counts: ViT-S/16+ 235, ViT-S/16 211 (spec §3.2); round trip restores the official names', () => {
    for (const [name, count] of [['vits16plus', 235], ['vits16', 211]] as const) {
      const official = new Map(createDinov3(name).namedParameters().map(([k, p]) => [k, { dtype: 'F32', shape: p.torchShape, data: new Float32Array(p.torchShape.reduce((a, b) => a * b, 1)) } as RawTensor]));
      const hf = toHuggingFace(official);
      expect(hf.size).toBe(count);
      const back = fromHuggingFace(hf);
      const withoutBuffers = [...official.keys()].filter((k) => !k.endsWith('bias_mask') && k !== 'rope_embed.periods');
      expect([...back.keys()].sort()).toEqual(withoutBuffers.sort());
      expect(back.get('mask_token')!.shape).toEqual([1, 384]);
    }
  });

  it('getIntermediateLayers: last block = forwardFeatures; reshape to an NHWC grid; raw (unnormed) = prenorm', async () => {
    const { model, x } = fixtureModel();
    const f = model.forwardFeatures(x);
    const [last] = model.getIntermediateLayers(x);
    expect(await read(last.patchTokens)).toEqual(await read(f.patchTokens));
    expect(await read(last.clsToken)).toEqual(await read(f.clsToken));
    const both = model.getIntermediateLayers(x, { n: [0, 1], reshape: true, norm: false });
    expect(both.map((l) => l.patchTokens.shape)).toEqual([[1, 3, 5, 384], [1, 3, 5, 384]]);
    const prenormPatches = tf.slice(f.prenorm, [0, 5, 0], [1, 15, 384]);
    expect(await read(both[1].patchTokens)).toEqual(await read(prenormPatches));
    expect(await read(both[0].patchTokens)).not.toEqual(await read(prenormPatches));
    expect(() => model.getIntermediateLayers(x, { n: [2] })).toThrow(/block 2 does not exist/);
    tf.dispose([x, prenormPatches, ...Object.values(f), ...[last, ...both].flatMap((l) => Object.values(l))]);
  });

  it('masks replace patch tokens by mask_token; no mask = all-false mask', async () => {
    const { model, x } = fixtureModel();
    const none = model.forwardFeatures(x);
    const allFalse = model.forwardFeatures(x, tf.zeros([1, 15], 'bool') as tf.Tensor2D);
    expect(await read(allFalse.prenorm)).toEqual(await read(none.prenorm));
    // With every patch masked the image no longer matters.
    const other = tf.randomNormal(x.shape) as tf.Tensor4D;
    const allTrue = tf.ones([1, 15], 'bool') as tf.Tensor2D;
    const [m1, m2] = [model.forwardFeatures(x, allTrue), model.forwardFeatures(other, allTrue)];
    expect(await read(m1.prenorm)).toEqual(await read(m2.prenorm));
    expect(() => model.forwardFeatures(x, tf.ones([1, 14], 'bool') as tf.Tensor2D)).toThrow(/masks must be \[1, 15\]/);
  });

  it('eval mode is deterministic; train mode rescales RoPE coordinates per call (upstream rescale_coords=2)', async () => {
    const { model, x } = fixtureModel();
    const run = async () => {
      const out = model.forwardFeatures(x);
      const v = await read(out.patchTokens);
      tf.dispose(Object.values(out));
      return v;
    };
    const [e1, e2] = [await run(), await run()];
    expect(e1).toEqual(e2);
    model.train();
    const [t1, t2] = [await run(), await run()];
    model.eval();
    expect(t1).not.toEqual(t2);
    expect(t1).not.toEqual(e1);
    expect(await run()).toEqual(e1);
    x.dispose();
  });

  it('non-multiple-of-16 inputs are floor-cropped like the stride-16 conv; bad inputs are named', async () => {
    const { model, x } = fixtureModel();
    const padded = tf.pad(x, [[0, 0], [0, 9], [0, 15], [0, 0]], 3) as tf.Tensor4D; // 57×95 → still a 3×5 grid
    const [a, b] = [model.forwardFeatures(x), model.forwardFeatures(padded)];
    expect(await read(b.prenorm)).toEqual(await read(a.prenorm));
    expect(() => model.forwardFeatures(tf.zeros([1, 3, 32, 32]) as tf.Tensor4D)).toThrow(/NHWC images \[B, H, W, 3\], got \[1,3,32,32\]/);
    expect(() => model.forwardFeatures(tf.zeros([1, 8, 32, 3]) as tf.Tensor4D)).toThrow(/smaller than one 16×16 patch/);
  });

  it('forward() is the normed class token; a batch of two leaves no tensors behind', async () => {
    const { f, model, x } = fixtureModel();
    const batch = tf.concat([x, x]) as tf.Tensor4D;
    tf.dispose(Object.values(model.forwardFeatures(batch))); // builds the cached RoPE tables for this grid
    const before = tf.memory().numTensors;
    const cls = model.forward(batch);
    expect(cls.shape).toEqual([2, 384]);
    expectClose('cls', (await read(cls)).slice(0, 384), f.io.get('x_norm_clstoken')!, f.tolerance('x_norm_clstoken'));
    cls.dispose();
    const feats = model.forwardFeatures(batch);
    tf.dispose(Object.values(feats));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('dispose frees weights and cached tables; the model reloads', async () => {
    const { f, model, x } = fixtureModel();
    tf.dispose(Object.values(model.forwardFeatures(x)));
    const before = tf.memory().numTensors;
    model.dispose();
    expect(before - tf.memory().numTensors).toBe(model.namedParameters().length + 2);
    model.loadStateDict(f.weights());
    const out = model.forwardFeatures(x);
    expectClose('reloaded', await read(out.patchTokens), f.io.get('x_norm_patchtokens')!, f.tolerance('x_norm_patchtokens'));
    expect(model).toBeInstanceOf(Dinov3ViT);
  });
});
