import { describe, expect, it } from 'vitest';
import { loadFixture } from '../../../tools/testing/fixtures';
import { DIT_PRESETS, DiT, SVG_DIT_XL, configFromUpstream, forwardFlops, inferDiTConfig, resolveConfig } from './index';

describe('DiT config', () => {
  it('defaults to SVG DiT-XL and resolves presets', () => {
    expect(resolveConfig()).toEqual(SVG_DIT_XL);
    expect(resolveConfig('S')).toMatchObject({ hiddenSize: 384, depth: 12, numHeads: 6, inChannels: 392, qkNorm: true, learnSigma: true });
    expect(resolveConfig({ hiddenSize: 64, numHeads: 4, depth: 1 })).toMatchObject({ hiddenSize: 64, depth: 1, inChannels: 392 });
  });

  it('reads upstream snake_case configs', () => {
    const c = configFromUpstream(loadFixture('dit').json.config.dit);
    expect(c).toMatchObject({ hiddenSize: 128, depth: 2, numHeads: 4, qkNorm: true, learnSigma: true, numClasses: 1000, inputSize: 16 });
    expect(() => configFromUpstream({ hidden_sise: 3 })).toThrow(/unknown upstream key "hidden_sise"/);
    expect(configFromUpstream({ target: 'models.models_SVG.DiT', ckpt: null, depth: 28 })).toEqual(SVG_DIT_XL);
  });

  it('rejects impossible configs with the reason', () => {
    expect(() => resolveConfig({ hiddenSize: 100, numHeads: 3 })).toThrow(/not divisible by numHeads/);
    expect(() => resolveConfig({ headDim: 64 })).toThrow(/headDim 64/);
    expect(() => resolveConfig({ classDropoutProb: 1 })).toThrow(/classDropoutProb/);
    expect(() => resolveConfig('XXL' as 'XL')).toThrow(/unknown DiT preset "XXL"/);
  });

  it('counts parameters as the spec (§3.11) without allocating them', () => {
    // [total incl. the frozen pos_embed, trainable]
    const expected = { S: [33_400_336, 33_302_032], B: [131_382_544, 131_185_936], L: [459_264_784, 459_002_640], XL: [676_437_904, 676_142_992] };
    for (const [name, [total, trainable]] of Object.entries(expected)) {
      const model = new DiT(name as 'S');
      expect(model.parameterCount()).toBe(trainable);
      const all = model.namedParameters().reduce((n, [, p]) => n + p.shape.reduce((a, b) => a * b, 1), 0);
      expect(all).toBe(total);
      expect(model.namedParameters().some(([, p]) => p.allocated)).toBe(false);
    }
  });

  it('lists exactly the upstream state-dict keys and shapes, in upstream order', () => {
    // checkpoints.json records the OrderedDict of a torch.save'd state_dict of the `dit` model, in order.
    const file = loadFixture('checkpoints').json.files.find((f: { file: string }) => f.file === 'checkpoints/dit_plain.pt');
    const theirs = file.expected.items.map(([k, v]: [string, { shape: number[] }]) => [k, v.shape]);
    const model = new DiT(configFromUpstream(loadFixture('dit').json.config.dit));
    expect(model.namedParameters().map(([n, p]) => [n, p.torchShape])).toEqual(theirs);
  });

  it('counts forward FLOPs from the layer shapes', () => {
    // A 1-block model counted by hand: B=2, T=256, D=8, C=4, M=32, out=8.
    const [B, T, D, C, M] = [2, 256, 8, 4, 32];
    const macs = B * T * C * D + B * (256 * D + D * D) + B * T * (4 * D * D + 2 * D * M) + 2 * B * T * T * D + B * D * 6 * D + B * D * 2 * D + B * T * D * 2 * C;
    expect(forwardFlops({ inChannels: C, hiddenSize: D, depth: 1, numHeads: 2 }, B, T)).toBe(2 * macs);
    // DiT-XL at 256 tokens: dominated by the 12·D² per-token block weights; adaLN runs once per sample.
    const ratio = forwardFlops('XL', 1) / (2 * 256 * 12 * DIT_PRESETS.XL.hiddenSize ** 2 * 28);
    expect(ratio).toBeGreaterThan(1.03);
    expect(ratio).toBeLessThan(1.06);
  });
});

describe('inferDiTConfig', () => {
  it('recovers the fixture configs from the weights', () => {
    for (const name of ['dit', 'dit_noqknorm']) {
      const fx = loadFixture(name);
      const want = configFromUpstream(fx.json.config.dit);
      if (name === 'dit') expect(inferDiTConfig(fx.weights())).toEqual(want);
      else {
        // Without qk-norm the head count is not in the weights.
        expect(() => inferDiTConfig(fx.weights())).toThrow(/numHeads/);
        expect(inferDiTConfig(fx.weights(), { numHeads: 4 })).toEqual(want);
      }
    }
  });

  it('detects learnSigma, patchSize and the SwiGLU MLP', () => {
    const sd = new DiT({ hiddenSize: 16, numHeads: 2, depth: 2, inChannels: 4, learnSigma: false, patchSize: 2, useSwiglu: true, mlpRatio: 2 });
    const fake = new Map(sd.namedParameters().map(([n, p]) => [n, { dtype: 'F32' as const, shape: p.torchShape, data: new Float32Array(0) }]));
    expect(inferDiTConfig(fake)).toMatchObject({ learnSigma: false, patchSize: 2, useSwiglu: true, mlpRatio: 2, depth: 2, numHeads: 2 });
    expect(() => inferDiTConfig(new Map())).toThrow(/no "ln1.weight"/);
  });
});
