import { mkdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parse as parseYaml } from 'yaml';
import { type Distributed, initDistributed } from '@svg/distributed';
import { SeededRandom, loadStateDict, stateDict } from '@svg/nn';
import { DiT, createDiT } from '@svg/dit';
import { type LatentStats, latentStatsFromTensors, loadLatentStats, normalizeLatent } from '@svg/flow';
import { SAMPLE_CLASSES_IMAGENET, generateImages, imageGrid } from '@svg/generate';
import { encodePng, statsTensors } from '@svg/data-imagenet';
import { writeStatsFile } from '@svg/data-imagenet/node';
import { type SvgAutoencoder, loadSvgAutoencoder } from '@svg/autoencoder';
import { type RawTensor, findStateDict, toFloat32 } from '@svg/weights';
import { readCheckpointFile as readWeightsFile, readSafetensorsFile, writeFileAtomic } from '@svg/weights/node';
import { type CheckpointState, readCheckpointTensors } from './checkpoint';
import { type DiTTrainConfig, loadTrainConfig } from './config';
import { shareTensors } from './data-parallel';
import { type DataPosition, FashionMnistSource, ImageFolderSource, type LatentSource, LatentCacheSource, type TokenBatch } from './data';
import { type DiTBatch, type DiTStepContext, ditTrainStep } from './dit-step';
import { Ema } from './ema';
import { type LoopStart, runTrainingLoop } from './loop';
import { AdamW } from './optim';
import { type RunLog, type TrainOptions, type TrainResult, openRun } from './run';

/** Options of {@link trainDiT}. */
export interface TrainDiTOptions extends TrainOptions {
  /** Replaces the data source built from the config (e.g. a custom dataset); closed at the end. */
  source?: LatentSource;
}


const MODEL_FILE = 'model.safetensors';
const EMA_FILE = 'ema.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const STATS_FILE = 'stats.safetensors';

/**
 * Trains the SVG DiT as `train_svg.py` does (spec §5): latents from the frozen encoder (or a latent cache, or our
 * Fashion-MNIST patch projection), per-channel feature normalisation, the rectified-flow loss with the config's time
 * shift, AdamW, optional global-norm clipping, gradient accumulation, EMA (0.9999, starting as a copy of the model),
 * label dropout for classifier-free guidance.
 *
 * Data-parallel under `mpirun`/`srun` (see `@svg/distributed`): `global_batch_size` is split over the ranks, each
 * rank reads its `DistributedSampler` shard, gradients are averaged over the ranks before clipping and the update,
 * and rank 0 alone writes files (it also reads the checkpoint and shares weights and state with the others). Unlike
 * upstream's per-rank seeds, the noise, times and label dropout are drawn for the whole global batch from streams
 * seeded by `global_seed`, and each rank takes its samples' rows: a run gives the same weights on any number of
 * ranks (up to float32 summation order), and resumes on a different number of ranks. The data position in the
 * checkpoints counts samples of the global batch.
 *
 * Writes to the run folder (`<results_dir>/<exp_name>`): `checkpoints/<step>/` (model, EMA and optimizer
 * safetensors, the latent statistics and `state.json`; written atomically, the newest `train.keep_checkpoints`
 * kept), `metrics.jsonl`, `loss.png`, `log.txt`, `config.yaml` and `samples/step-<step>.png` (EMA samples, every
 * `train.sample_every` steps, when a decoder is available). `resume` continues bit for bit: weights, EMA, optimizer
 * moments, data position and every random stream are restored.
 *
 * A NaN/infinite loss or gradient stops the run with a {@link NonFiniteLossError} before the weights change; the
 * checkpoints on disk stay as they were.
 *
 * @example
 * const result = await trainDiT({ config: 'configs/tiny-dit-fashion-mnist.yaml', backend: 'wasm',
 *   onProgress: (p) => console.log(p.step, p.loss.toFixed(4), `${p.stepsPerSecond.toFixed(2)} it/s`) });
 */
export async function trainDiT(options: TrainDiTOptions): Promise<TrainResult> {
  const config = typeof options.config === 'string' ? await loadTrainConfig(options.config) : options.config;
  if (config.kind !== 'dit') throw new Error(`trainDiT needs a DiT config (with a \`basic\` section); ${config.file ?? 'this config'} is an ${config.kind} config`);
  const runDir = options.runDir ?? join(config.resultsDir, config.expName);
  const dist = options.distributed ?? (await initDistributed());
  const { rank, worldSize, isMain } = dist;
  const { run, resumeFrom } = await openRun(config, runDir, options, dist);
  const { log } = run;

  if (config.globalBatchSize % worldSize !== 0) throw new Error(`global_batch_size ${config.globalBatchSize} is not divisible by the ${worldSize} ranks`);
  const batchSize = config.globalBatchSize / worldSize;
  const seed = config.globalSeed;
  const maxSteps = options.maxSteps ?? config.train.maxSteps;

  const source = options.source ?? (await openSource(config, log));
  const model = createDiT(config.model, { seed });
  model.gradientCheckpointing = config.train.gradientCheckpointing;
  const ema = new Ema(model, new DiT(config.model));
  const optimizer = new AdamW(model.trainableParameters(), { lr: config.optim.lr, betas: config.optim.betas, weightDecay: config.optim.weightDecay, eps: 1e-8 });
  try {
    if (source.channels !== config.model.inChannels) {
      throw new Error(`the data has ${source.channels} channels per token but model.params.in_channels is ${config.model.inChannels}`);
    }
    if (source.classes > config.model.numClasses) {
      throw new Error(`the data has ${source.classes} classes but model.params.num_classes is ${config.model.numClasses}`);
    }
    const ctx: DiTStepContext = {
      model,
      optimizer,
      ema,
      random: new SeededRandom(seed),
      shift: config.shift,
      clipGradNorm: config.clipGradNorm,
      emaDecay: config.train.emaDecay,
      distributed: dist,
    };
    model.dropoutRandom = new SeededRandom(seed + 0x10000);

    let start: LoopStart = { step: 0, position: { epoch: 0, index: 0 }, lastCheckpoint: null, resumed: false };
    let stats: LatentStats<Float32Array> | null = null;
    if (resumeFrom) {
      let step: number, position: DataPosition;
      ({ step, position, stats } = await restore(resumeFrom.path, resumeFrom.state, ctx));
      start = { step, position, lastCheckpoint: resumeFrom.path, resumed: true };
      await log.write(`resumed from ${resumeFrom.path} (step ${step}, epoch ${position.epoch}, sample ${position.index})`);
    } else if (isMain) {
      if (config.modelCkpt) {
        loadStateDict(model, findStateDict(await readWeightsFile(config.modelCkpt)), { strict: true });
        ema.update(0);
        await log.write(`initial weights from ${config.modelCkpt}`);
      }
      if (config.featureNorm) stats = await resolveStats(config, source, log);
    }
    if (worldSize > 1) {
      ({ start, stats } = await shareRunState(dist, ctx, start, stats));
      await log.write(`data parallel: ${worldSize} ranks (${dist.launch?.launcher}, ${dist.library?.split(',')[0]}), ${batchSize} samples each`);
    }
    if (stats && isMain) await writeStatsFile(join(runDir, STATS_FILE), stats, { source: 'svg-ts @svg/train feature statistics' });

    const streamOptions = { batchSize, seed: config.globalSeed, rank, worldSize };
    const perEpoch = Math.floor(source.samplesPerEpoch(streamOptions) / batchSize / config.accumIter);
    await log.write(
      `DiT ${config.model.hiddenSize}×${config.model.depth} (${model.parameterCount().toLocaleString('en')} parameters), batch ${batchSize}×${config.accumIter}, ` +
        `${perEpoch} steps per epoch, ${config.epochs} epochs${maxSteps !== null ? `, stop at step ${maxSteps}` : ''}`,
    );
    let noDecoderNoted = false;
    return await runTrainingLoop<TokenBatch>({
      kind: 'dit',
      ...run,
      options,
      start,
      maxSteps,
      epochs: config.epochs,
      batchesPerStep: config.accumIter,
      logEvery: config.logEvery,
      checkpointEvery: config.ckptEvery,
      sampleEvery: config.train.sampleEvery,
      keepCheckpoints: config.train.keepCheckpoints,
      batches: (from) => source.batches(from, streamOptions),
      step: async (micro, step) => {
        const batches: DiTBatch[] = micro.map((b) => ({ tokens: toModelTokens(b, stats), labels: b.labels }));
        try {
          const r = await ditTrainStep(ctx, batches, step + 1);
          return { loss: r.loss, gradNorm: r.gradNorm, extra: { grad_norm: r.gradNorm } };
        } finally {
          tf.dispose(batches.map((b) => b.tokens));
        }
      },
      lr: () => optimizer.lr,
      checkpoint: async (position) => ({
        files: {
          [MODEL_FILE]: await stateDict(model),
          [EMA_FILE]: await stateDict(ema.shadow),
          [OPTIMIZER_FILE]: await optimizer.saveState(),
          ...(stats ? { [STATS_FILE]: statsFiles(stats) } : {}),
        },
        state: {
          kind: 'dit',
          epoch: position.epoch,
          data: position,
          random: { noise: ctx.random.getState(), labelDropout: model.dropoutRandom.getState() },
          model: config.model,
          optim: { ...config.optim, eps: 1e-8 },
          config: config.raw,
          time: new Date().toISOString(),
        },
      }),
      samples: async (step) => {
        if (source.decoder) return `samples ${await writeSampleGrid(config, ema.shadow, source, stats, runDir, step)}`;
        if (noDecoderNoted) return null;
        noDecoderNoted = true;
        return 'sample grids skipped: no decoder is configured (set basic.encoder_config to decode latents)';
      },
      logLine: (step, interval, stepsPerSecond) => `(step=${String(step).padStart(7, '0')}) train loss: ${interval.loss.toFixed(4)}, train steps/sec: ${stepsPerSecond.toFixed(2)}`,
      curve: { keys: ['loss'], title: `${config.expName}: rectified-flow loss` },
      divergenceHint: 'Lower optim.base_learning_rate or set basic.clip_grad_norm, then resume.',
    });
  } finally {
    optimizer.dispose();
    model.dispose();
    ema.shadow.dispose();
    if (!options.source) await source.close();
  }
}

/**
 * Rank 0's weights, EMA, optimizer moments, random streams, starting point and feature statistics on every rank,
 * so that all replicas start identical (rank 0 may be the only one that can read the checkpoint).
 */
async function shareRunState(dist: Distributed, ctx: DiTStepContext, start: LoopStart, stats: LatentStats<Float32Array> | null): Promise<{ start: LoopStart; stats: LatentStats<Float32Array> | null }> {
  const main = dist.isMain;
  loadStateDict(ctx.model, await shareTensors(dist, main ? await stateDict(ctx.model) : null));
  loadStateDict(ctx.ema.shadow, await shareTensors(dist, main ? await stateDict(ctx.ema.shadow) : null));
  ctx.optimizer.loadState(await shareTensors(dist, main ? await ctx.optimizer.saveState() : null));
  const shared = await dist.broadcastJson(
    main
      ? {
          start,
          stats: stats && { mean: Array.from(stats.mean), std: Array.from(stats.std) },
          random: { noise: ctx.random.getState(), labelDropout: ctx.model.dropoutRandom.getState() },
        }
      : null,
  );
  ctx.random.setState(shared!.random.noise);
  ctx.model.dropoutRandom.setState(shared!.random.labelDropout);
  return { start: shared!.start, stats: shared!.stats && { mean: Float32Array.from(shared!.stats.mean), std: Float32Array.from(shared!.stats.std) } };
}

/** Restores a DiT run from a checkpoint into `ctx`. */
async function restore(path: string, state: CheckpointState, ctx: DiTStepContext): Promise<{ step: number; position: DataPosition; stats: LatentStats<Float32Array> | null }> {
  loadStateDict(ctx.model, await readCheckpointTensors(path, MODEL_FILE));
  loadStateDict(ctx.ema.shadow, await readCheckpointTensors(path, EMA_FILE));
  ctx.optimizer.loadState(await readCheckpointTensors(path, OPTIMIZER_FILE));
  const random = state.random as { noise: number[]; labelDropout: number[] };
  ctx.random.setState(random.noise);
  ctx.model.dropoutRandom.setState(random.labelDropout);
  const stats = STATS_FILE in state.files ? statsFromTensors(await readCheckpointTensors(path, STATS_FILE)) : null;
  return { step: state.step, position: state.data as DataPosition, stats };
}

/** Builds the data source a config describes. */
async function openSource(config: DiTTrainConfig, log: RunLog): Promise<LatentSource> {
  const t = config.train;
  if (t.dataset === 'fashion-mnist') {
    if (t.patchProjection.channels !== null && t.patchProjection.channels !== config.model.inChannels) {
      throw new Error(`train.patch_projection.channels (${t.patchProjection.channels}) must equal model.params.in_channels (${config.model.inChannels})`);
    }
    await log.write('data: Fashion-MNIST through a fixed random patch projection (2×2 patches of the 32×32-padded images)');
    return FashionMnistSource.open(config.dataPath ?? undefined, { limit: t.limit ?? undefined, channels: config.model.inChannels, seed: t.patchProjection.seed });
  }
  if (t.dataset === 'latent-cache') {
    const decoder = config.encoderConfig ? await loadAutoencoder(config.encoderConfig, t.dinov3Weights, true) : undefined;
    await log.write(`data: latent cache ${t.latentCache}${decoder ? '' : ' (no decoder: no sample grids)'}`);
    return LatentCacheSource.open(t.latentCache!, decoder);
  }
  if (!config.dataPath) throw new Error('basic.data_path is not set (the ImageFolder of training images)');
  if (!config.encoderConfig) throw new Error('basic.encoder_config is not set (the autoencoder YAML whose encoder makes the latents)');
  const ae = await loadAutoencoder(config.encoderConfig, t.dinov3Weights, false);
  await log.write(`data: ${config.dataPath} encoded by the SVG autoencoder of ${config.encoderConfig}`);
  return ImageFolderSource.open(config.dataPath, ae, { imageSize: config.imageSize, workers: config.numWorkers, limit: t.limit ?? undefined });
}

/**
 * The frozen SVG autoencoder of an autoencoder YAML: weights from its top-level `ckpt_path` (always loaded — upstream
 * forgets to, defect D5) and DINOv3 from `dinoconfig.weights` or `dinov3Override`; paths relative to that YAML.
 */
export async function loadAutoencoder(configPath: string, dinov3Override: string | null, decoderOnly: boolean): Promise<SvgAutoencoder> {
  const text = await readFile(configPath, 'utf8');
  const doc = parseYaml(text) as Record<string, any>;
  const base = dirname(configPath);
  const rel = (p: unknown) => (typeof p === 'string' && p !== '' ? (isAbsolute(p) ? p : resolve(base, p)) : null);
  const ckpt = rel(doc.ckpt_path);
  if (!ckpt) throw new Error(`${configPath}: ckpt_path is not set; the DiT needs the trained autoencoder's checkpoint there`);
  const dinov3 = dinov3Override ?? rel(doc.model?.params?.dinoconfig?.weights);
  const ae = await loadSvgAutoencoder(ckpt, { config: doc, dinov3: dinov3 ?? undefined, decoderOnly });
  ae.eval();
  return ae;
}

/** Latent statistics for feature normalisation, as `train.stats` says. */
async function resolveStats(config: DiTTrainConfig, source: LatentSource, log: RunLog): Promise<LatentStats<Float32Array>> {
  const choice = config.train.stats ?? (source.channels === 392 ? 'official' : 'dataset');
  if (choice === 'official') {
    if (source.channels !== 392) throw new Error(`train.stats: the official statistics have 392 channels, the data ${source.channels}`);
    await log.write('feature normalisation: official dinov3_sp_stats');
    const s = loadLatentStats();
    return { mean: toFloat32(s.mean), std: toFloat32(s.std) };
  }
  if (choice === 'dataset') {
    const s = await source.stats(config.train.limit ?? undefined);
    await log.write(`feature normalisation: statistics of ${s.count.toLocaleString('en')} latent values per channel of the training data`);
    return { mean: s.mean, std: s.std };
  }
  const { tensors } = await readSafetensorsFile(choice);
  await log.write(`feature normalisation: ${choice}`);
  return statsFromTensors(tensors);
}

/** Float32 statistics from the tensors of a statistics file (`dinov3_sp_stats` layout). */
function statsFromTensors(tensors: ReadonlyMap<string, RawTensor>): LatentStats<Float32Array> {
  const { mean, std } = latentStatsFromTensors(tensors);
  return { mean: toFloat32(mean), std: toFloat32(std) };
}

function statsFiles(stats: LatentStats<Float32Array>): Map<string, RawTensor> {
  return new Map(Object.entries(statsTensors(stats)));
}

/** `[B, 256, C]` tokens of a batch, feature-normalised when statistics are given. */
function toModelTokens(batch: TokenBatch, stats: LatentStats<Float32Array> | null): tf.Tensor3D {
  const c = batch.tokens.length / (batch.count * 256);
  return tf.tidy(() => {
    const x = tf.tensor3d(batch.tokens, [batch.count, 256, c]);
    return (stats ? normalizeLatent(x, stats) : x) as tf.Tensor3D;
  });
}

/**
 * EMA samples with `@svg/generate`'s official procedure (per-image seeds `global_seed + i`, the config's sampler
 * settings, de-normalisation, decoding), saved as a 4-column grid.
 */
async function writeSampleGrid(config: DiTTrainConfig, model: DiT, source: LatentSource, stats: LatentStats<Float32Array> | null, runDir: string, step: number): Promise<string> {
  const t = config.train;
  const c = config.model;
  const classes = Array.from({ length: t.sampleCount }, (_, i) => (c.numClasses === 1000 ? SAMPLE_CLASSES_IMAGENET[i % 16] : i % Math.max(1, source.classes)));
  const cfg = c.classDropoutProb > 0 ? t.sampleCfg : 1;
  const images = await generateImages({ dit: model, decoder: source.decoder!, stats, classes, seed: config.globalSeed, steps: t.sampleSteps, cfg, shift: t.sampleShift });
  const grid = imageGrid(images, { columns: 4 });
  const dir = join(runDir, 'samples');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `step-${String(step).padStart(7, '0')}.png`);
  const png = await encodePng({ ...grid, channels: 3 }, {
    Title: `${config.expName}: EMA samples at step ${step}`,
    Software: 'svg-ts @svg/train',
    Classes: classes.join(','),
    Sampler: `euler steps=${t.sampleSteps} cfg=${cfg} shift=${t.sampleShift} seeds=${config.globalSeed}..${config.globalSeed + classes.length - 1}`,
  });
  await writeFileAtomic(file, png);
  return file;
}
