import * as tf from '@tensorflow/tfjs-core';
import { loadStateDict } from '@svg/nn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends, useBackend } from '../../../tools/testing/backends';
import { expectClose, loadFixture } from '../../../tools/testing/fixtures';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LdmDecoder, type DecoderConfig, ResidualVit, SVG_AUTOENCODER_CONFIG, createSvgAutoencoder, matchDistribution, parseSvgAutoencoderConfig } from './index';
import { formatResult, nhwcOf, readChannelsFirst, readNCHW, tokensOf } from './test-support';

/**
 * Parity of the autoencoder's parts with the golden PyTorch fixtures.
 * Every case runs on every backend (ldm_decoder_256 takes ~40 s on SwiftShader WebGPU).
 */
const CASES: Record<string, string[]> = {
  cpu: ['match_distribution', 'residual_vit', 'ldm_decoder_small', 'ldm_decoder_256'],
  wasm: ['match_distribution', 'residual_vit', 'ldm_decoder_small', 'ldm_decoder_256'],
  webgpu: ['match_distribution', 'residual_vit', 'ldm_decoder_small', 'ldm_decoder_256'],
};

const report: string[] = [];
afterAll(() => console.log(`parity (parts):\n${report.join('\n')}`));

const TESTS: Record<string, (backend: string) => Promise<void>> = {
  async match_distribution(backend) {
    const f = loadFixture('match_distribution');
    const h = tokensOf(f.io.get('h')!);
    const hVit = tokensOf(f.io.get('h_vit')!);
    const before = tf.memory().numTensors;
    const out = matchDistribution(h, hVit);
    expect(tf.memory().numTensors).toBe(before + 1);
    const r = expectClose('h_vit_aligned', await readChannelsFirst(out), f.io.get('h_vit_aligned')!, f.tolerance('h_vit_aligned'));
    report.push(formatResult(backend, 'match_distribution', r));
    tf.dispose([h, hVit, out]);
  },

  async residual_vit(backend) {
    const f = loadFixture('residual_vit');
    const c = f.json.config.extra_vit;
    const vit = new ResidualVit({ outputDim: c.output_dim, patchSize: c.patch_size, imageSize: c.img_size, numLayers: c.num_layers });
    loadStateDict(vit, f.weights());
    const x = nhwcOf(f.io.get('x')!);
    const before = tf.memory().numTensors;
    const out = vit.forward(x);
    expect(out.shape).toEqual([2, 256, 8]);
    const r = expectClose('h_vit', await readChannelsFirst(out), f.io.get('h_vit')!, f.tolerance('h_vit'));
    report.push(formatResult(backend, 'residual_vit', r));
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    vit.dispose();
  },

  ldm_decoder_small: (backend) => decoderCase(backend, 'ldm_decoder_small'),
  ldm_decoder_256: (backend) => decoderCase(backend, 'ldm_decoder_256'),
};

async function decoderCase(backend: string, name: string): Promise<void> {
  const f = loadFixture(name);
  const decoder = new LdmDecoder(f.json.config.ddconfig as DecoderConfig);
  loadStateDict(decoder, f.weights());
  const z = nhwcOf(f.io.get('z')!);
  const before = tf.memory().numTensors;
  const out = decoder.forward(z);
  expect(tf.memory().numTensors).toBe(before + 1);
  const want = f.io.get('x_rec')!;
  expect(out.shape).toEqual([want.shape[0], want.shape[2], want.shape[3], want.shape[1]]);
  const r = expectClose('x_rec', await readNCHW(out), want, f.tolerance('x_rec'));
  report.push(formatResult(backend, name, r));
  tf.dispose([z, out]);
  decoder.dispose();
}

for (const backend of testBackends()) {
  describe(`parts on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });
    for (const name of CASES[backend] ?? CASES.cpu) it(name, () => TESTS[name](backend));
  });
}

describe('decoder structure', () => {
  it('has the upstream state-dict keys and parameter count of the SVG config', () => {
    const decoder = new LdmDecoder({ z_channels: 392, resolution: 256, out_ch: 3, ch: 128, ch_mult: [1, 1, 2, 2, 4], num_res_blocks: 2, attn_resolutions: [16] });
    const names = decoder.namedParameters().map(([n]) => n);
    expect(names).toHaveLength(194);
    expect(decoder.parameterCount()).toBe(43_076_483);
    expect(names).toContain('up.4.attn.2.proj_out.weight');
    expect(names).toContain('up.3.block.0.nin_shortcut.weight');
    expect(names).toContain('up.1.upsample.conv.bias');
    expect(names.some((n) => n.startsWith('up.0.upsample'))).toBe(false);
    expect(names.some((n) => n.startsWith('up.3.attn'))).toBe(false);
    const torchShapes = new Map(decoder.namedParameters().map(([n, p]) => [n, p.torchShape]));
    expect(torchShapes.get('conv_in.weight')).toEqual([512, 392, 3, 3]);
    expect(torchShapes.get('conv_out.weight')).toEqual([3, 128, 3, 3]);
  });

  it('decodes in stages with progress to exactly the pixels of one forward, leaving no tensor behind', async () => {
    await useBackend('cpu');
    const decoder = new LdmDecoder({ z_channels: 8, resolution: 32, out_ch: 3, ch: 32, ch_mult: [1, 1, 2], num_res_blocks: 1, attn_resolutions: [8] });
    const z = tf.randomNormal([2, 8, 8, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
    const whole = decoder.forward(z);
    const before = tf.memory().numTensors;
    const stages: string[] = [];
    const staged = await decoder.forwardInStages(z, (done, total) => void stages.push(`${done}/${total}`));
    expect(stages).toEqual(['1/5', '2/5', '3/5', '4/5', '5/5']); // conv_in + mid, 3 up levels, norm_out + conv_out
    expect(staged.shape).toEqual([2, 32, 32, 3]);
    expect(Array.from(await staged.data())).toEqual(Array.from(await whole.data()));
    staged.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, whole]);
  });

  it('rejects configs GroupNorm(32) cannot normalise', () => {
    expect(() => new LdmDecoder({ z_channels: 392, resolution: 32, out_ch: 3, ch: 16, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [] })).toThrow(/multiple of 32/);
  });

  it('residual ViT has the torchvision keys and 11,192,840 parameters', () => {
    const vit = new ResidualVit();
    const names = vit.namedParameters().map(([n]) => n);
    expect(names).toHaveLength(82);
    expect(vit.parameterCount()).toBe(11_192_840);
    expect(names).toContain('encoder.layers.encoder_layer_5.self_attention.in_proj_weight');
    expect(names).toContain('encoder.layers.encoder_layer_0.mlp.3.bias');
    expect(names).toContain('heads.2.weight');
    expect(() => vit.forward(tf.zeros([1, 128, 128, 3]) as tf.Tensor4D)).toThrow(/\[B, 256, 256, 3\]/);
  });

  it('builds an SVG autoencoder for 32×32 images: residual ViT on the DINOv3 grid (2×2 patches), 40-channel latents', async () => {
    await useBackend('cpu');
    const config = parseSvgAutoencoderConfig(await readFile(join(__dirname, '../../../configs/fashion-mnist/autoencoder.yaml'), 'utf8'));
    const ae = createSvgAutoencoder(config);
    expect(ae.extraVit!.config).toMatchObject({ imageSize: 32, patchSize: 2, hiddenDim: 32, numHeads: 2, mlpDim: 64, numLayers: 2, dropout: 0, attentionDropout: 0 });
    const images = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const latent = ae.encode(images);
    expect(latent.shape).toEqual([2, 16, 16, 40]);
    const recon = ae.decode(latent);
    expect(recon.shape).toEqual([2, 32, 32, 3]);
    // Upstream's layout is unchanged: a 256² config still gets torchvision's ViT-S/16.
    const upstream = createSvgAutoencoder(SVG_AUTOENCODER_CONFIG);
    expect(upstream.extraVit!.config).toMatchObject({ imageSize: 256, patchSize: 16, hiddenDim: 384, numLayers: 6, dropout: 0.1 });
    tf.dispose([images, latent, recon]);
    ae.dispose();
    upstream.dispose();
  });
});

