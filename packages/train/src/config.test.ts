import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrainConfig, parseTrainConfig } from './config';

// The upstream files' keys and values (spec §3.1, §5.1 and §1.1), with the placeholder paths of the originals.
const UPSTREAM_DIT = `
basic:
  exp_name: example_SVG_XL_BS256
  results_dir: exps
  data_path: /your_path/ImageNet-1k/data/train_images

  global_seed: 1234
  epochs: 1000
  log_every: 100
  ckpt_every: 50000
  rf: True
  shift: 0.4

  accum_iter: 1
  clip_grad_norm:    # set None to disable

  image_size: 256
  global_batch_size: 256
  num_workers: 16

  timestep_start: 0
  timestep_end: 1000
  encoder: dinov3_vitsp16
  feature_norm: true

  encoder_config: ../autoencoder/svg/configs/example_svg_autoencoder_vitsp.yaml

model:
  ckpt:
  target: models.models_SVG.DiT
  params:
    input_size: 16
    num_classes: 1000
    patch_size: 1
    depth: 28
    hidden_size: 1152
    num_heads: 16
    mlp_ratio: 4
    use_swiglu: false
    in_channels: 392
    qk_norm: True
    class_dropout_prob: 0.1

optim:
  base_learning_rate: 0.0001
  weight_decay: 0
  betas: [0.9, 0.999]
`;

const UPSTREAM_AE = `
ckpt_path: null
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
      ch_mult: [1, 1, 2, 2, 4]
      num_res_blocks: 2
      attn_resolutions: [16]
      dropout: 0.0
    dinoconfig:
      dinov3_location: /your_dinov3_location
      model_name: dinov3_vits16plus
      weights: /your_path/dinov3/dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth
    extra_vit_config:
      output_dim: 8
      mask_ratio: 0.1
      use_outnorm: true
data:
  target: main_svg_autoencoder.DataModuleFromConfig
  params:
    batch_size: 64
    wrap: true
    train:
      target: ldm.data.imagenet.ImageNetTrain
      params:
        data_root: /your_path/ImageNet-1k/
lightning:
  trainer:
    devices: 8
    num_nodes: 1
    strategy: ddp_find_unused_parameters_true
    accelerator: gpu
    max_epochs: 1000
    precision: 32
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'svg-config-'));
  await writeFile(join(dir, 'example_svg_xl.yaml'), UPSTREAM_DIT);
  await writeFile(join(dir, 'ae.yaml'), UPSTREAM_AE);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('training configs', () => {
  it('reads the upstream DiT config as it is, paths relative to the file', async () => {
    const c = await loadTrainConfig(join(dir, 'example_svg_xl.yaml'));
    if (c.kind !== 'dit') throw new Error('expected a DiT config');
    expect(c.expName).toBe('example_SVG_XL_BS256');
    expect(c.resultsDir).toBe(join(dir, 'exps'));
    expect(c.encoderConfig).toBe(join(dir, '../autoencoder/svg/configs/example_svg_autoencoder_vitsp.yaml'));
    expect(c.dataPath).toBe('/your_path/ImageNet-1k/data/train_images');
    expect([c.globalSeed, c.epochs, c.logEvery, c.ckptEvery, c.shift, c.accumIter, c.globalBatchSize]).toEqual([1234, 1000, 100, 50000, 0.4, 1, 256]);
    expect(c.clipGradNorm).toBeNull();
    expect(c.featureNorm).toBe(true);
    expect(c.modelCkpt).toBeNull();
    expect(c.model).toMatchObject({ hiddenSize: 1152, depth: 28, numHeads: 16, inChannels: 392, qkNorm: true, classDropoutProb: 0.1, learnSigma: true });
    expect(c.optim).toEqual({ lr: 1e-4, weightDecay: 0, betas: [0.9, 0.999] });
    expect(c.train).toMatchObject({ dataset: 'image-folder', emaDecay: 0.9999, gradientCheckpointing: false, maxSteps: null, keepCheckpoints: 3, sampleSteps: 25, sampleCfg: 4, sampleShift: 0.15 });
  });

  it('reads the upstream autoencoder config as it is', async () => {
    const c = await loadTrainConfig(join(dir, 'ae.yaml'));
    if (c.kind !== 'autoencoder') throw new Error('expected an autoencoder config');
    expect([c.lr, c.batchSize, c.maxEpochs, c.seed]).toEqual([1e-4, 64, 1000, 23]);
    expect(c.dataRoot).toBe('/your_path/ImageNet-1k/');
    expect(c.ckptPath).toBeNull();
    expect((c.modelParams.lossconfig as { params: unknown }).params).toEqual({ disc_start: 5001, disc_weight: 0.5 });
  });

  it('reads our presets', async () => {
    const c = await loadTrainConfig(join(__dirname, '../../../configs/tiny-dit-fashion-mnist.yaml'));
    expect(c.kind).toBe('dit');
    if (c.kind === 'dit') expect(c.train).toMatchObject({ dataset: 'fashion-mnist', stats: 'dataset', maxSteps: 300 });
    const ae = await loadTrainConfig(join(__dirname, '../../../configs/tiny-autoencoder-fashion-mnist.yaml'));
    expect(ae.kind).toBe('autoencoder');
  });

  it('names the key that is wrong', () => {
    expect(() => parseTrainConfig('basic:\n  exp_nam: x\n')).toThrow(/unknown key basic.exp_nam/);
    expect(() => parseTrainConfig('basic:\n  shift: fast\n')).toThrow(/basic.shift must be a number, got "fast"/);
    expect(() => parseTrainConfig('basic:\n  epochs: 1.5\n')).toThrow(/basic.epochs must be an integer/);
    expect(() => parseTrainConfig('basic: {}\noptim:\n  betas: [0.9]\n')).toThrow(/optim.betas must be a list of two numbers/);
    expect(() => parseTrainConfig('basic: {}\ntrain:\n  datasets: x\n')).toThrow(/unknown key train.datasets/);
    expect(() => parseTrainConfig('basic: {}\ntrain:\n  dataset: mnist\n')).toThrow(/train.dataset must be/);
    expect(() => parseTrainConfig('basic: {}\ntrain:\n  gradient_checkpointing: sometimes\n')).toThrow(/train.gradient_checkpointing must be true or false/);
    expect(parseTrainConfig('basic: {}\ntrain:\n  gradient_checkpointing: true\n').train.gradientCheckpointing).toBe(true);
    expect(() => parseTrainConfig('basic: {}\nmodel:\n  params:\n    hidden: 3\n')).toThrow(/model.params: .*unknown upstream key "hidden"/);
    expect(() => parseTrainConfig('foo: 1\n')).toThrow(/neither a DiT config/);
    expect(() => parseTrainConfig('basic: {}\ntrain:\n  dataset: latent-cache\n')).toThrow(/train.latent_cache is not set/);
  });
});
