import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { stateDict } from '@svg/nn';
import { type RawTensor, toFloat32, writeSafetensors } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackends, useBackend } from '../../../tools/testing/backends';
import { fixturesDir, loadFixture, loadSafetensorsFixture } from '../../../tools/testing/fixtures';
import { SVG_AUTOENCODER_CONFIG, createSvgAutoencoder, loadSvgAutoencoder, parseSvgAutoencoderConfig } from './index';
import { fixtureConfig } from './test-support';

/** Checkpoint and config loading. Runs on the first test backend only: it checks bookkeeping, not numerics. */

// The structure of autoencoder/configs/example_svg_autoencoder_vitsp.yaml, with placeholder paths.
const UPSTREAM_YAML = `ckpt_path: null

model:
  base_learning_rate: 1.0e-04
  target: ldm.models.dino_decoder.DinoDecoder
  params:
    monitor: val/rec_loss
    embed_dim: 32
    lossconfig:
      target: ldm.modules.losses.LPIPSWithDiscriminatorDecoder
      params:
        disc_start: 5001
        disc_weight: 0.5
    ddconfig:
      double_z: true
      z_channels: 392
      resolution: 256
      in_channels: 3
      out_ch: 3
      ch: 128
      ch_mult:
      - 1
      - 1
      - 2
      - 2
      - 4
      num_res_blocks: 2
      attn_resolutions:
      - 16
      dropout: 0.0
    dinoconfig:
      dinov3_location: /path/to/dinov3
      model_name: dinov3_vits16plus
      weights: /path/to/dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth
    extra_vit_config:
      output_dim: 8
      mask_ratio: 0.1
      use_outnorm: true
`;

const WEIGHTS = 'svg_autoencoder.weights.safetensors';

function sum(raw: RawTensor): number {
  return toFloat32(raw).reduce((a, v) => a + v, 0);
}

describe('loading', () => {
  beforeAll(async () => {
    await useBackend(testBackends()[0]);
  });

  it('parses the upstream YAML into the SVG config, whose model has the upstream keys', () => {
    const config = parseSvgAutoencoderConfig(UPSTREAM_YAML);
    expect(config.ddconfig).toEqual(SVG_AUTOENCODER_CONFIG.ddconfig);
    expect(config.extra_vit_config).toEqual(SVG_AUTOENCODER_CONFIG.extra_vit_config);
    expect(config.dinoconfig.model_name).toBe('dinov3_vits16plus');
    const model = createSvgAutoencoder(config);
    const names = model.namedParameters().map(([n]) => n);
    // Appendix A: 547 keys, minus the 56 `loss.*` ones.
    expect(names).toHaveLength(491);
    const count = (prefix: string) => model.namedParameters().filter(([n, p]) => n.startsWith(prefix) && !p.isBuffer).reduce((a, [, p]) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    expect(count('encoder.')).toBe(28_697_472);
    expect(count('extra_vit.')).toBe(11_192_840);
    expect(count('decoder.')).toBe(43_076_483);
    expect(count('mask_token')).toBe(8);
    expect(count('norm_vit.')).toBe(80);
    expect(model.trainableParameters().every(([n]) => !n.startsWith('encoder.'))).toBe(true);
    // What the upstream AE optimiser trains (§2.6): decoder + extra_vit + mask_token = 54,269,331 weights.
    const trainable = model.trainableParameters();
    expect(trainable).toHaveLength(491 - 212 - 2);
    expect(trainable.reduce((a, [, p]) => a + p.shape.reduce((x, y) => x * y, 1), 0)).toBe(54_269_331);
    expect(() => parseSvgAutoencoderConfig('model:\n  params:\n    ddconfig: {}\n')).toThrow(/dinoconfig/);
  });

  it('loads a checkpoint with encoder.* keys, and one without them plus separate DINOv3 weights', async () => {
    const f = loadFixture('svg_autoencoder_encode');
    const config = fixtureConfig(f);
    const bytes = new Uint8Array(readFileSync(join(fixturesDir(), WEIGHTS)));
    const full = await loadSvgAutoencoder(bytes, { config });
    const weights = loadSafetensorsFixture(WEIGHTS);
    const loaded = await stateDict(full);
    for (const key of ['encoder.blocks.1.attn.qkv.weight', 'extra_vit.encoder.layers.encoder_layer_0.self_attention.in_proj_weight', 'mask_token', 'decoder.conv_in.weight', 'decoder.up.4.attn.1.q.weight']) {
      expect(Array.from(toFloat32(loaded.get(key)!))).toEqual(Array.from(toFloat32(weights.get(key)!)));
    }
    expect(loaded.get('encoder.rope_embed.periods')!.data).toEqual(toFloat32(weights.get('encoder.rope_embed.periods')!));
    full.dispose();

    const withoutEncoder = new Map([...weights].filter(([k]) => !k.startsWith('encoder.')));
    const dinov3 = new Map([...weights].filter(([k]) => k.startsWith('encoder.')).map(([k, v]) => [k.slice('encoder.'.length), v]));
    await expect(loadSvgAutoencoder(withoutEncoder, { config })).rejects.toThrow(/options\.dinov3/);
    const split = await loadSvgAutoencoder(withoutEncoder, { config, dinov3 });
    const key = 'encoder.blocks.0.mlp.w3.weight';
    expect(sum((await stateDict(split)).get(key)!)).toBeCloseTo(sum(weights.get(key)!), 3);
    split.dispose();
    // Without options.dinov3 the YAML's dinoconfig.weights path is read, as upstream does.
    const dir = mkdtempSync(join(tmpdir(), 'svg-ae-'));
    const dinoFile = join(dir, 'dinov3.safetensors');
    writeFileSync(dinoFile, writeSafetensors(dinov3));
    const viaConfig = await loadSvgAutoencoder(withoutEncoder, { config: { ...config, dinoconfig: { ...config.dinoconfig, weights: dinoFile } } });
    expect(sum((await stateDict(viaConfig)).get(key)!)).toBeCloseTo(sum(weights.get(key)!), 3);
    viaConfig.dispose();
    rmSync(dir, { recursive: true });

    // Lightning checkpoints also hold loss.* (LPIPS, discriminator): ignored here. Anything else unknown is an error.
    const withLoss = new Map(weights);
    withLoss.set('loss.logvar', { dtype: 'F32', shape: [], data: new Float32Array(1) });
    (await loadSvgAutoencoder(withLoss, { config })).dispose();
    withLoss.set('decoder.bogus', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    await expect(loadSvgAutoencoder(withLoss, { config })).rejects.toThrow(/unexpected keys \(1\): decoder\.bogus/);
  });

  it('reads a Lightning .ckpt decoder-only (no DINOv3 needed)', async () => {
    const spec = JSON.parse(readFileSync(join(fixturesDir(), 'checkpoints.json'), 'utf8'));
    const ddconfig = spec.tiny_models.tiny_decoder;
    const config = { ddconfig, dinoconfig: { model_name: 'dinov3_vits16plus' } };
    const model = await loadSvgAutoencoder(join(fixturesDir(), 'checkpoints', 'lightning_style.ckpt'), { config, decoderOnly: true });
    expect(model.encoder).toBeNull();
    const expected = spec.files.find((e: { file: string }) => e.file.endsWith('lightning_style.ckpt')).expected;
    const stateDictTree = expected.items.find(([k]: [string]) => k === 'state_dict')[1];
    const convIn = stateDictTree.items.find(([k]: [string]) => k === 'decoder.conv_in.weight')[1];
    expect(sum((await stateDict(model)).get('decoder.conv_in.weight')!)).toBeCloseTo(convIn.sum, 4);
    const z = tf.zeros([1, 8, 8, 4]) as tf.Tensor4D;
    const x = model.decode(z);
    expect(x.shape).toEqual([1, 8, 8, 3]);
    expect(() => model.encode(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D)).toThrow(/decoderOnly/);
    tf.dispose([z, x]);
    model.dispose();
  });

  it('explains a config whose latent width does not fit the encoder', () => {
    const bad = { ...SVG_AUTOENCODER_CONFIG, ddconfig: { ...SVG_AUTOENCODER_CONFIG.ddconfig, z_channels: 384 } };
    expect(() => createSvgAutoencoder(bad)).toThrow(/z_channels is 384, but the encoder produces 392/);
  });
});
