import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type DiTConfig, configFromUpstream } from '@svg/dit';

/** Where training data comes from. */
export type DatasetKind = 'image-folder' | 'latent-cache' | 'fashion-mnist';

/**
 * svg-ts extensions, in an optional top-level `train:` section of either YAML (upstream files have none, and then
 * every default below applies). Paths are relative to the config file.
 */
export interface TrainSection {
  /** Data source (default `image-folder` for upstream configs: `basic.data_path` / `data.params.train`). */
  dataset: DatasetKind;
  /** Latent cache folder (`dataset: latent-cache`), written by `writeLatentCache` of `@svg/data-imagenet`. */
  latentCache: string | null;
  /** Stop after this many optimiser steps (default: run `epochs` epochs). */
  maxSteps: number | null;
  /** Use only the first `limit` images of the dataset (small CPU runs). */
  limit: number | null;
  /** EMA decay (default 0.9999, as upstream). */
  emaDecay: number;
  /**
   * DiT: recompute each block in the backward pass instead of keeping its activations (default false). About 30 %
   * more compute per step for much less memory: DiT-S at batch 8 needs it to fit tfjs-wasm's 4 GiB heap.
   */
  gradientCheckpointing: boolean;
  /** Checkpoints kept on disk (default 3; the newest are kept). */
  keepCheckpoints: number;
  /** Write a sample grid (DiT) or reconstruction grid (autoencoder) every this many steps; 0 disables. */
  sampleEvery: number;
  /** Images in a sample grid (default 16, as `sample_svg.py`). */
  sampleCount: number;
  /** Sampler settings for grids (defaults: 25 Euler steps, cfg 4, shift 0.15, as `sample_svg.py`). */
  sampleSteps: number;
  sampleCfg: number;
  sampleShift: number;
  /**
   * The fixed random patch projection used as encoder for `dataset: fashion-mnist` (see `PatchProjection`):
   * `channels` (default `model.params.in_channels`) and the seed of its matrix.
   */
  patchProjection: { channels: number | null; seed: number };
  /**
   * Latent statistics for `basic.feature_norm`: a safetensors file with `dinov3_sp_mean` / `dinov3_sp_std`, the word
   * `official` (SVG's `dinov3_sp_stats.pt`, 392 channels), or `dataset` (computed from the training latents at
   * start). Default: `official` for 392 channels, else `dataset`.
   */
  stats: string | null;
  /** DINOv3 weights for the autoencoder (overrides `dinoconfig.weights`); `random` keeps a seeded random init (tests). */
  dinov3Weights: string | null;
  /** LPIPS weights: torchvision VGG16 state dict and taming's `vgg.pth` (autoencoder training). */
  lpipsVgg: string | null;
  lpipsLin: string | null;
  /** Autoencoder: image side (default 256, upstream `size`). */
  imageSize: number | null;
  /** Autoencoder run folder parent and name (upstream `logs/<config stem>`). */
  resultsDir: string | null;
  expName: string | null;
}

/** `config/*.yaml` of the DiT (upstream `train_svg.py`), resolved. */
export interface DiTTrainConfig {
  kind: 'dit';
  /** Absolute path of the config file (or null when parsed from text). */
  file: string | null;
  /** The parsed YAML as given, saved with every checkpoint. */
  raw: Record<string, unknown>;
  expName: string;
  resultsDir: string;
  dataPath: string | null;
  globalSeed: number;
  epochs: number;
  logEvery: number;
  ckptEvery: number;
  shift: number;
  accumIter: number;
  clipGradNorm: number | null;
  imageSize: number;
  globalBatchSize: number;
  numWorkers: number;
  featureNorm: boolean;
  /** The autoencoder YAML used as encoder (`basic.encoder_config`). */
  encoderConfig: string | null;
  model: DiTConfig;
  /** Initial weights (`model.ckpt`): a DiT state dict, `{ema}` or `{model}` checkpoint. */
  modelCkpt: string | null;
  optim: { lr: number; weightDecay: number; betas: [number, number] };
  train: TrainSection;
}

/** `autoencoder/configs/*.yaml` (upstream `main_svg_autoencoder.py`), resolved. */
export interface AutoencoderTrainConfig {
  kind: 'autoencoder';
  file: string | null;
  raw: Record<string, unknown>;
  /** `model.params` (passed to `@svg/autoencoder`). */
  modelParams: Record<string, unknown>;
  /** `model.base_learning_rate` (used unscaled, as upstream). */
  lr: number;
  /** Top-level `ckpt_path`: initial autoencoder weights. */
  ckptPath: string | null;
  /** `data.params.batch_size` (per device). */
  batchSize: number;
  /** `data.params.train.params.data_root` (images under `<root>/data/train`, or `<root>` itself for `image-folder`). */
  dataRoot: string | null;
  maxEpochs: number;
  /** Seed (upstream `seed_everything(23)`). */
  seed: number;
  logEvery: number;
  ckptEvery: number;
  train: TrainSection;
}

/**
 * A supervised image classifier (ours; upstream has no such config): the frozen semantic encoder of a small SVG
 * (`model.arch: dinov3`, a DINOv3 ViT whose `[cls ⊕ mean patch token]` features feed a linear head) or the
 * independent CNN that scores generated samples (`model.arch: cnn`).
 */
export interface ClassifierTrainConfig {
  kind: 'classifier';
  file: string | null;
  raw: Record<string, unknown>;
  /** `model` as written: `arch`, `num_classes`, and `dinoconfig` (dinov3) or `channels` / `hidden` (cnn). */
  model: ClassifierModelConfig;
  /** `data.data_root` (Fashion-MNIST IDX files; default Debian's folder). */
  dataRoot: string | null;
  /** `data.image_size`: images are centred on a black canvas of this side (32 for Fashion-MNIST). */
  imageSize: number;
  /** `data.batch_size`. */
  batchSize: number;
  /** `data.flip`: mirror each training image with probability 0.5. */
  flip: boolean;
  epochs: number;
  optim: { lr: number; weightDecay: number; betas: [number, number]; warmupSteps: number };
  seed: number;
  logEvery: number;
  ckptEvery: number;
  train: TrainSection;
}

/** `model` of a {@link ClassifierTrainConfig}. */
export type ClassifierModelConfig =
  | { arch: 'dinov3'; numClasses: number; dinoconfig: { model_name: string; overrides?: Record<string, unknown> } }
  | { arch: 'cnn'; numClasses: number; channels: number[]; hidden: number };

export type TrainConfig = DiTTrainConfig | AutoencoderTrainConfig | ClassifierTrainConfig;

const BASIC_KEYS = new Set([
  'exp_name', 'results_dir', 'data_path', 'global_seed', 'epochs', 'log_every', 'ckpt_every', 'rf', 'shift', 'accum_iter',
  'clip_grad_norm', 'image_size', 'global_batch_size', 'num_workers', 'timestep_start', 'timestep_end', 'encoder',
  'feature_norm', 'encoder_config',
]);

const TRAIN_KEYS: Record<string, keyof TrainSection> = {
  dataset: 'dataset',
  latent_cache: 'latentCache',
  max_steps: 'maxSteps',
  limit: 'limit',
  ema_decay: 'emaDecay',
  gradient_checkpointing: 'gradientCheckpointing',
  keep_checkpoints: 'keepCheckpoints',
  sample_every: 'sampleEvery',
  sample_count: 'sampleCount',
  sample_steps: 'sampleSteps',
  sample_cfg: 'sampleCfg',
  sample_shift: 'sampleShift',
  patch_projection: 'patchProjection',
  stats: 'stats',
  dinov3_weights: 'dinov3Weights',
  lpips_vgg: 'lpipsVgg',
  lpips_lin: 'lpipsLin',
  image_size: 'imageSize',
  results_dir: 'resultsDir',
  exp_name: 'expName',
};

/** Reads a training config file (YAML) and resolves its paths relative to the file. */
export async function loadTrainConfig(path: string): Promise<TrainConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config ${path}: ${(e as Error).message}`);
  }
  return parseTrainConfig(text, file);
}

/**
 * Parses a training config: a DiT config (`basic`, `model`, `optim`, as `config/example_svg_xl.yaml`) or an
 * autoencoder config (`model.params.ddconfig`, `data`, `lightning`, as
 * `autoencoder/configs/example_svg_autoencoder_vitsp.yaml`), plus our optional `train:` section. Relative paths are
 * resolved against the directory of `file` (or the working directory).
 */
export function parseTrainConfig(source: string | Record<string, unknown>, file: string | null = null): TrainConfig {
  const raw = typeof source === 'string' ? parseYaml(source) : source;
  const where = file ?? 'config';
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: expected a YAML mapping at the top level`);
  const doc = raw as Record<string, unknown>;
  const base = file ? dirname(file) : process.cwd();
  if ('basic' in doc) return parseDiT(doc, file, base);
  const arch = (doc.model as Record<string, unknown> | undefined)?.arch;
  if (arch !== undefined) return parseClassifier(doc, file, base);
  const params = (doc.model as Record<string, unknown> | undefined)?.params as Record<string, unknown> | undefined;
  if (params && typeof params === 'object' && 'ddconfig' in params) return parseAutoencoder(doc, file, base);
  throw new Error(`${where}: neither a DiT config (no \`basic\` section), an autoencoder config (no \`model.params.ddconfig\`) nor a classifier config (no \`model.arch\`)`);
}

function parseDiT(doc: Record<string, unknown>, file: string | null, base: string): DiTTrainConfig {
  const where = file ?? 'config';
  const basic = section(doc, 'basic', where);
  for (const key of Object.keys(basic)) {
    if (!BASIC_KEYS.has(key)) throw new Error(`${where}: unknown key basic.${key} (known: ${[...BASIC_KEYS].join(', ')})`);
  }
  const get = field(basic, `${where}: basic`);
  const model = section(doc, 'model', where);
  const params = (model.params ?? Object.fromEntries(Object.entries(model).filter(([k]) => k !== 'ckpt' && k !== 'target'))) as Record<string, unknown>;
  let modelConfig: DiTConfig;
  try {
    modelConfig = configFromUpstream(params);
  } catch (e) {
    throw new Error(`${where}: model.params: ${(e as Error).message}`);
  }
  const optim = section(doc, 'optim', where);
  const opt = field(optim, `${where}: optim`);
  const betas = opt('betas', [0.9, 0.999]) as unknown;
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number')) {
    throw new Error(`${where}: optim.betas must be a list of two numbers, got ${JSON.stringify(betas)}`);
  }
  const clip = basic.clip_grad_norm;
  const config: DiTTrainConfig = {
    kind: 'dit',
    file,
    raw: doc,
    expName: str(get('exp_name', 'svg_dit'), 'basic.exp_name'),
    resultsDir: path(base, str(get('results_dir', 'exps'), 'basic.results_dir')),
    dataPath: optionalPath(base, basic.data_path, 'basic.data_path'),
    globalSeed: int(get('global_seed', 0), 'basic.global_seed', 0),
    epochs: int(get('epochs', 1), 'basic.epochs', 1),
    logEvery: int(get('log_every', 100), 'basic.log_every', 1),
    ckptEvery: int(get('ckpt_every', 50000), 'basic.ckpt_every', 1),
    shift: num(get('shift', 0.4), 'basic.shift'),
    accumIter: int(get('accum_iter', 1), 'basic.accum_iter', 1),
    clipGradNorm: clip === null || clip === undefined || clip === 'None' ? null : positive(clip, 'basic.clip_grad_norm'),
    imageSize: int(get('image_size', 256), 'basic.image_size', 1),
    globalBatchSize: int(get('global_batch_size', 256), 'basic.global_batch_size', 1),
    numWorkers: int(get('num_workers', 2), 'basic.num_workers', 0),
    featureNorm: bool(get('feature_norm', false), 'basic.feature_norm'),
    encoderConfig: optionalPath(base, basic.encoder_config, 'basic.encoder_config'),
    model: modelConfig,
    modelCkpt: optionalPath(base, model.ckpt, 'model.ckpt'),
    optim: {
      lr: positive(opt('base_learning_rate', 1e-4), 'optim.base_learning_rate'),
      weightDecay: num(opt('weight_decay', 0), 'optim.weight_decay'),
      betas: [betas[0], betas[1]],
    },
    train: parseTrainSection(doc, base, where, 'image-folder'),
  };
  if (config.train.dataset === 'latent-cache' && !config.train.latentCache) throw new Error(`${where}: train.dataset is latent-cache but train.latent_cache is not set`);
  return config;
}

function parseAutoencoder(doc: Record<string, unknown>, file: string | null, base: string): AutoencoderTrainConfig {
  const where = file ?? 'config';
  const model = section(doc, 'model', where);
  const data = (doc.data as Record<string, unknown> | undefined)?.params as Record<string, unknown> | undefined;
  const trainData = (data?.train as Record<string, unknown> | undefined)?.params as Record<string, unknown> | undefined;
  const trainer = ((doc.lightning as Record<string, unknown> | undefined)?.trainer ?? {}) as Record<string, unknown>;
  const train = parseTrainSection(doc, base, where, 'image-folder');
  return {
    kind: 'autoencoder',
    file,
    raw: doc,
    modelParams: model.params as Record<string, unknown>,
    lr: positive(model.base_learning_rate ?? 1e-4, 'model.base_learning_rate'),
    ckptPath: optionalPath(base, doc.ckpt_path, 'ckpt_path'),
    batchSize: int(data?.batch_size ?? 64, 'data.params.batch_size', 1),
    dataRoot: optionalPath(base, trainData?.data_root, 'data.params.train.params.data_root'),
    maxEpochs: int(trainer.max_epochs ?? 1000, 'lightning.trainer.max_epochs', 1),
    seed: int(trainSectionValue(doc, 'seed') ?? 23, 'train.seed', 0),
    logEvery: int(trainSectionValue(doc, 'log_every') ?? 50, 'train.log_every', 1),
    ckptEvery: int(trainSectionValue(doc, 'ckpt_every') ?? 5000, 'train.ckpt_every', 1),
    train,
  };
}

function parseClassifier(doc: Record<string, unknown>, file: string | null, base: string): ClassifierTrainConfig {
  const where = file ?? 'config';
  const model = section(doc, 'model', where);
  const data = section(doc, 'data', where);
  const optim = section(doc, 'optim', where);
  const numClasses = int(model.num_classes ?? 10, 'model.num_classes', 2);
  let modelConfig: ClassifierModelConfig;
  if (model.arch === 'dinov3') {
    const dino = model.dinoconfig as Record<string, unknown> | undefined;
    if (!dino || typeof dino.model_name !== 'string') throw new Error(`${where}: model.dinoconfig.model_name must name a DINOv3 preset (e.g. dinov3_vits16plus)`);
    modelConfig = { arch: 'dinov3', numClasses, dinoconfig: { model_name: dino.model_name, overrides: (dino.overrides ?? {}) as Record<string, unknown> } };
  } else if (model.arch === 'cnn') {
    const channels = model.channels ?? [32, 64];
    if (!Array.isArray(channels) || channels.length === 0 || !channels.every((c) => Number.isInteger(c) && c > 0)) {
      throw new Error(`${where}: model.channels must be a list of positive integers, got ${JSON.stringify(channels)}`);
    }
    modelConfig = { arch: 'cnn', numClasses, channels: channels as number[], hidden: int(model.hidden ?? 128, 'model.hidden', 1) };
  } else {
    throw new Error(`${where}: model.arch must be dinov3 or cnn, got ${JSON.stringify(model.arch)}`);
  }
  const betas = (optim.betas ?? [0.9, 0.999]) as unknown;
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number')) {
    throw new Error(`${where}: optim.betas must be a list of two numbers, got ${JSON.stringify(betas)}`);
  }
  return {
    kind: 'classifier',
    file,
    raw: doc,
    model: modelConfig,
    dataRoot: optionalPath(base, data.data_root, 'data.data_root'),
    imageSize: int(data.image_size ?? 32, 'data.image_size', 1),
    batchSize: int(data.batch_size ?? 64, 'data.batch_size', 1),
    flip: bool(data.flip ?? false, 'data.flip'),
    epochs: int(data.epochs ?? 1, 'data.epochs', 1),
    optim: {
      lr: positive(optim.base_learning_rate ?? 1e-3, 'optim.base_learning_rate'),
      weightDecay: num(optim.weight_decay ?? 0, 'optim.weight_decay'),
      betas: [betas[0], betas[1]],
      warmupSteps: int(optim.warmup_steps ?? 0, 'optim.warmup_steps', 0),
    },
    seed: int(trainSectionValue(doc, 'seed') ?? 0, 'train.seed', 0),
    logEvery: int(trainSectionValue(doc, 'log_every') ?? 50, 'train.log_every', 1),
    ckptEvery: int(trainSectionValue(doc, 'ckpt_every') ?? 500, 'train.ckpt_every', 1),
    train: parseTrainSection(doc, base, where, 'fashion-mnist'),
  };
}

function trainSectionValue(doc: Record<string, unknown>, key: string): unknown {
  const t = doc.train as Record<string, unknown> | undefined;
  return t && typeof t === 'object' ? t[key] : undefined;
}

const LOOP_TRAIN_KEYS = new Set(['seed', 'log_every', 'ckpt_every']);

function parseTrainSection(doc: Record<string, unknown>, base: string, where: string, defaultDataset: DatasetKind): TrainSection {
  const t = (doc.train ?? {}) as Record<string, unknown>;
  if (typeof t !== 'object' || Array.isArray(t)) throw new Error(`${where}: train must be a mapping`);
  for (const key of Object.keys(t)) {
    if (!(key in TRAIN_KEYS) && !LOOP_TRAIN_KEYS.has(key)) {
      throw new Error(`${where}: unknown key train.${key} (known: ${[...Object.keys(TRAIN_KEYS), ...LOOP_TRAIN_KEYS].join(', ')})`);
    }
  }
  const dataset = (t.dataset ?? defaultDataset) as DatasetKind;
  if (!['image-folder', 'latent-cache', 'fashion-mnist'].includes(dataset)) {
    throw new Error(`${where}: train.dataset must be image-folder, latent-cache or fashion-mnist, got ${JSON.stringify(t.dataset)}`);
  }
  const pp = (t.patch_projection ?? {}) as Record<string, unknown>;
  const stats = t.stats === undefined || t.stats === null ? null : str(t.stats, 'train.stats');
  return {
    dataset,
    latentCache: optionalPath(base, t.latent_cache, 'train.latent_cache'),
    maxSteps: t.max_steps === undefined || t.max_steps === null ? null : int(t.max_steps, 'train.max_steps', 0),
    limit: t.limit === undefined || t.limit === null ? null : int(t.limit, 'train.limit', 1),
    emaDecay: num(t.ema_decay ?? 0.9999, 'train.ema_decay'),
    gradientCheckpointing: bool(t.gradient_checkpointing ?? false, 'train.gradient_checkpointing'),
    keepCheckpoints: int(t.keep_checkpoints ?? 3, 'train.keep_checkpoints', 1),
    sampleEvery: int(t.sample_every ?? 0, 'train.sample_every', 0),
    sampleCount: int(t.sample_count ?? 16, 'train.sample_count', 1),
    sampleSteps: int(t.sample_steps ?? 25, 'train.sample_steps', 1),
    sampleCfg: num(t.sample_cfg ?? 4, 'train.sample_cfg'),
    sampleShift: num(t.sample_shift ?? 0.15, 'train.sample_shift'),
    patchProjection: {
      channels: pp.channels === undefined || pp.channels === null ? null : int(pp.channels, 'train.patch_projection.channels', 1),
      seed: int(pp.seed ?? 0, 'train.patch_projection.seed', 0),
    },
    stats: stats === null || stats === 'official' || stats === 'dataset' ? stats : path(base, stats),
    dinov3Weights: t.dinov3_weights === 'random' ? 'random' : optionalPath(base, t.dinov3_weights, 'train.dinov3_weights'),
    lpipsVgg: optionalPath(base, t.lpips_vgg, 'train.lpips_vgg'),
    lpipsLin: optionalPath(base, t.lpips_lin, 'train.lpips_lin'),
    imageSize: t.image_size === undefined || t.image_size === null ? null : int(t.image_size, 'train.image_size', 16),
    resultsDir: optionalPath(base, t.results_dir, 'train.results_dir'),
    expName: t.exp_name === undefined || t.exp_name === null ? null : str(t.exp_name, 'train.exp_name'),
  };
}

function section(doc: Record<string, unknown>, name: string, where: string): Record<string, unknown> {
  const s = doc[name];
  if (s === undefined || s === null) return {};
  if (typeof s !== 'object' || Array.isArray(s)) throw new Error(`${where}: ${name} must be a mapping`);
  return s as Record<string, unknown>;
}

function field(obj: Record<string, unknown>, _where: string) {
  return (key: string, fallback: unknown): unknown => (obj[key] === undefined || obj[key] === null ? fallback : obj[key]);
}

function num(v: unknown, key: string): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`config: ${key} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

function positive(v: unknown, key: string): number {
  const n = num(v, key);
  if (!(n > 0)) throw new Error(`config: ${key} must be > 0, got ${n}`);
  return n;
}

function int(v: unknown, key: string, min: number): number {
  const n = num(v, key);
  if (!Number.isInteger(n) || n < min) throw new Error(`config: ${key} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function bool(v: unknown, key: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'True' || v === 'true') return true;
  if (v === 'False' || v === 'false') return false;
  throw new Error(`config: ${key} must be true or false, got ${JSON.stringify(v)}`);
}

function str(v: unknown, key: string): string {
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`config: ${key} must be a string, got ${JSON.stringify(v)}`);
  return String(v);
}

function path(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

function optionalPath(base: string, v: unknown, key: string): string | null {
  if (v === undefined || v === null || v === '') return null;
  return path(base, str(v, key));
}
