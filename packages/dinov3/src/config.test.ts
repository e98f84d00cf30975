import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../tools/testing/backends';
import { DINOV3_PRESETS, DINOV3_PRESET_NAMES, createDinov3, ffnHiddenDim, resolveConfig } from './index';

// Parameter counts (buffers excluded) and state-dict key counts (buffers included) of the upstream modules,
// from spec §1.1 and §3.1.
const PARAMS: Record<string, number> = {
  vits16: 21_601_152,
  vits16plus: 28_697_472,
  vitb16: 85_669_632,
  vitl16: 303_154_176,
  vitl16plus: 403_915_776,
  vith16plus: 840_633_600,
  vit7b16: 6_716_043_264,
};
const KEYS: Record<string, number> = { vits16: 188, vits16plus: 212, vitb16: 188, vitl16: 368, vitl16plus: 416, vith16plus: 552, vit7b16: 610 };
const HIDDEN: Record<string, number> = { vits16: 1536, vits16plus: 1536, vitb16: 3072, vitl16: 4096, vitl16plus: 4096, vith16plus: 5120, vit7b16: 8192 };

describe('DINOv3 presets', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('cover every hub ViT entry point', () => {
    expect(DINOV3_PRESET_NAMES).toEqual(Object.keys(PARAMS));
  });

  for (const name of DINOV3_PRESET_NAMES) {
    it(`${name}: upstream parameter count, key count and FFN width`, () => {
      const model = createDinov3(name);
      expect(model.parameterCount()).toBe(PARAMS[name]);
      expect(model.namedParameters().length).toBe(KEYS[name]);
      expect(ffnHiddenDim(DINOV3_PRESETS[name])).toBe(HIDDEN[name]);
    });
  }

  it('official key names and shapes (ViT-S/16+)', () => {
    const shapes = Object.fromEntries(createDinov3('vits16plus').namedParameters().map(([k, p]) => [k, p.torchShape]));
    expect(shapes).toMatchObject({
      cls_token: [1, 1, 384],
      storage_tokens: [1, 4, 384],
      mask_token: [1, 384],
      'patch_embed.proj.weight': [384, 3, 16, 16],
      'rope_embed.periods': [16],
      'blocks.0.attn.qkv.weight': [1152, 384],
      'blocks.0.attn.qkv.bias_mask': [1152],
      'blocks.11.mlp.w1.weight': [1536, 384],
      'blocks.11.mlp.w3.weight': [384, 1536],
      'blocks.11.ls2.gamma': [384],
      'norm.bias': [384],
    });
    expect(Object.keys(shapes)).not.toContain('local_cls_norm.weight');
    const sevenB = Object.fromEntries(createDinov3('vit7b16').namedParameters().map(([k, p]) => [k, p.torchShape]));
    expect(sevenB['rope_embed.periods']).toEqual([32]);
    expect(sevenB['local_cls_norm.weight']).toEqual([4096]);
    expect(Object.keys(sevenB)).not.toContain('blocks.0.attn.qkv.bias');
  });

  it('the 7B preset is built without allocating a single weight', () => {
    const before = tf.memory().numTensors;
    const model = createDinov3('vit7b16');
    expect(tf.memory().numTensors).toBe(before);
    expect(model.namedParameters().every(([, p]) => !p.allocated)).toBe(true);
  });

  it('plain configs are completed with the upstream constructor defaults; overrides and errors', () => {
    const c = resolveConfig({ embedDim: 64, numHeads: 4, depth: 1 });
    expect(c).toMatchObject({ nStorageTokens: 0, normLayer: 'layernorm', maskKBias: false, patchSize: 16, ffnLayer: 'mlp' });
    expect(resolveConfig('dinov3_vits16plus', { depth: 2 }).depth).toBe(2);
    expect(() => resolveConfig('vitg14' as never)).toThrow(/unknown DINOv3 preset 'vitg14'/);
    expect(() => resolveConfig({ embedDim: 64, numHeads: 3 })).toThrow(/not divisible/);
    expect(() => resolveConfig({ embedDim: 48, numHeads: 8 })).toThrow(/multiple of 4/);
    expect(() => resolveConfig({ ffnLayer: 'geglu' as never })).toThrow(/unknown ffnLayer/);
  });
});
