import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type Distributed, initDistributed } from '@svg/distributed';
import { loadStateDict, setInitSeed, stateDict } from '@svg/nn';
import { LpipsWithDiscriminator, type SvgAutoencoder, type SvgLossConfig, createSvgAutoencoder, parseSvgAutoencoderConfig } from '@svg/autoencoder';
import { encodePng } from '@svg/data-imagenet';
import { imageGrid } from '@svg/generate';
import { type RawTensor, findStateDict } from '@svg/weights';
import { readCheckpointFile, writeFileAtomic } from '@svg/weights/node';
import { type AutoencoderStepContext, autoencoderTrainStep } from './autoencoder-step';
import { type CheckpointState, readCheckpointTensors } from './checkpoint';
import { type AutoencoderTrainConfig, loadTrainConfig } from './config';
import { shareTensors } from './data-parallel';
import { type DataPosition, FashionMnistImages, FolderImages, type ImageBatch, type ImageSource } from './data';
import { type LoopStart, runTrainingLoop } from './loop';
import { Adam } from './optim';
import { type RunLog, type TrainOptions, type TrainResult, openRun } from './run';

/** Options of {@link trainAutoencoder}. */
export interface TrainAutoencoderOptions extends TrainOptions {
  /** Replaces the image source built from the config; closed at the end. */
  source?: ImageSource;
}

const MODEL_FILE = 'model.safetensors';
const DISC_FILE = 'discriminator.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const DISC_OPTIMIZER_FILE = 'discriminator-optimizer.safetensors';
const DISC_PREFIX = 'loss.discriminator.';

/**
 * Trains the SVG autoencoder as `main_svg_autoencoder.py` does (spec §2): frozen DINOv3 (eval mode, no gradient),
 * residual ViT + mask token + LDM decoder trained with `Adam(lr, betas = (0.5, 0.9))` on
 * `L1 + LPIPS + adaptive-weight · PatchGAN` (hinge), the discriminator with its own Adam from `disc_start` on
 * (counted in Lightning's doubled global steps, D19). No LR scaling, no clipping, no EMA, float32 — as upstream.
 *
 * Writes to the run folder (default `<train.results_dir or <config dir>/logs>/<train.exp_name or config stem>`):
 * `checkpoints/<step>/` (`model.safetensors` — a `DinoDecoder` state dict that `loadSvgAutoencoder` reads —, the
 * discriminator as `loss.discriminator.*`, both optimisers, `state.json`), `metrics.jsonl`, `loss.png`, `log.txt`,
 * `config.yaml`, and reconstruction grids `samples/step-<step>.png` (inputs and reconstructions side by side).
 *
 * Data-parallel under `mpirun`/`srun`: as with Lightning's DDP, `batch_size` is per rank; both optimisers' gradients
 * are averaged over the ranks and rank 0 alone writes files. The mask decisions are drawn for the whole global batch
 * from one stream (so a checkpoint resumes on any number of ranks); the adaptive weight and the discriminator's
 * BatchNorm statistics are per rank, as upstream.
 *
 * @example
 * await trainAutoencoder({ config: 'configs/tiny-autoencoder-fashion-mnist.yaml', onProgress: (p) => console.log(p.step, p.loss) });
 */
export async function trainAutoencoder(options: TrainAutoencoderOptions): Promise<TrainResult> {
  const config = typeof options.config === 'string' ? await loadTrainConfig(options.config) : options.config;
  if (config.kind !== 'autoencoder') throw new Error(`trainAutoencoder needs an autoencoder config (model.params.ddconfig); ${config.file ?? 'this config'} is a ${config.kind} config`);
  const base = config.file ? dirname(config.file) : process.cwd();
  const stem = config.file ? basename(config.file, extname(config.file)) : 'autoencoder';
  const runDir = options.runDir ?? join(config.train.resultsDir ?? join(base, 'logs'), config.train.expName ?? stem);
  const dist = options.distributed ?? (await initDistributed());
  const { rank, worldSize, isMain } = dist;
  const { run, resumeFrom } = await openRun(config, runDir, options, dist);
  const { log } = run;

  const seed = config.seed;
  const batchSize = config.batchSize;
  const maxSteps = options.maxSteps ?? config.train.maxSteps;
  const params = parseSvgAutoencoderConfig(config.modelParams);
  const lossParams = (params.lossconfig?.params ?? {}) as SvgLossConfig;
  if (typeof lossParams.disc_start !== 'number') throw new Error('model.params.lossconfig.params.disc_start must be set');

  setInitSeed(seed);
  const ae = createSvgAutoencoder(params, { maskSeed: seed });
  const loss = new LpipsWithDiscriminator(lossParams);
  const source = options.source ?? (await openImages(config, log));
  const ctx: AutoencoderStepContext = {
    autoencoder: ae,
    loss,
    optimizer: new Adam(ae.trainableParameters(), { lr: config.lr, betas: [0.5, 0.9] }),
    discOptimizer: new Adam(loss.discriminator.trainableParameters(), { lr: config.lr, betas: [0.5, 0.9] }),
    distributed: dist,
  };
  try {
    await initWeights(config, ae, loss, base, resumeFrom !== null || !isMain, log);
    drawInitialValues(ae, loss.discriminator);
    let start: LoopStart = { step: 0, position: { epoch: 0, index: 0 }, lastCheckpoint: null, resumed: false };
    if (resumeFrom) {
      const { step, position } = await restore(resumeFrom.path, resumeFrom.state, ctx);
      start = { step, position, lastCheckpoint: resumeFrom.path, resumed: true };
      await log.write(`resumed from ${resumeFrom.path} (step ${step}, epoch ${position.epoch}, sample ${position.index})`);
    }
    if (worldSize > 1) {
      start = await shareRunState(dist, ctx, start);
      await log.write(`data parallel: ${worldSize} ranks (${dist.launch?.launcher}, ${dist.library?.split(',')[0]}), batch ${batchSize} each`);
    }
    const streamOptions = { batchSize, seed, rank, worldSize };
    const perEpoch = Math.floor(source.samplesPerEpoch(streamOptions) / batchSize);
    await log.write(
      `SVG autoencoder: ${ctx.optimizer.parameterNames.length} trained tensors (${countOf(ae, ctx.optimizer.parameterNames).toLocaleString('en')} weights), ` +
        `discriminator ${loss.discriminator.parameterCount().toLocaleString('en')} weights, batch ${batchSize}, ${perEpoch} steps per epoch, ` +
        `${config.maxEpochs} epochs${maxSteps !== null ? `, stop at step ${maxSteps}` : ''}; disc_start ${lossParams.disc_start} (global steps: 2 per batch)`,
    );
    const fixed = isMain && config.train.sampleEvery > 0 ? await source.fixedBatch(config.train.sampleCount) : null;
    const name = config.train.expName ?? stem;
    return await runTrainingLoop<ImageBatch>({
      kind: 'autoencoder',
      ...run,
      options,
      start,
      maxSteps,
      epochs: config.maxEpochs,
      batchesPerStep: 1,
      logEvery: config.logEvery,
      checkpointEvery: config.ckptEvery,
      sampleEvery: config.train.sampleEvery,
      keepCheckpoints: config.train.keepCheckpoints,
      batches: (from) => source.batches(from, streamOptions),
      step: async ([batch], step) => {
        const images = tf.tensor4d(batch.images, [batch.count, batch.size, batch.size, 3]);
        try {
          const r = await autoencoderTrainStep(ctx, images, step);
          return { loss: r.loss, gradNorm: r.logs.grad_norm, extra: r.logs };
        } finally {
          images.dispose();
        }
      },
      lr: () => ctx.optimizer.lr,
      checkpoint: async (position) => ({
        files: {
          [MODEL_FILE]: await stateDict(ae),
          [DISC_FILE]: prefixed(await stateDict(loss.discriminator), DISC_PREFIX),
          [OPTIMIZER_FILE]: await ctx.optimizer.saveState(),
          [DISC_OPTIMIZER_FILE]: await ctx.discOptimizer.saveState(),
        },
        state: { kind: 'autoencoder', epoch: position.epoch, data: position, random: { mask: ae.maskRandom.getState() }, config: config.raw, time: new Date().toISOString() },
      }),
      samples: async (step) => (fixed ? `reconstructions ${await writeReconstructionGrid(ae, fixed, source.size, runDir, step, config)}` : null),
      logLine: (step, { loss, extra: e }, stepsPerSecond) =>
        `(step=${String(step).padStart(7, '0')}) aeloss ${loss.toFixed(4)}, rec_loss ${e.rec_loss.toFixed(4)}, p_loss ${e.p_loss.toFixed(4)}, ` +
        `g_loss ${e.g_loss.toFixed(4)}, d_weight ${e.d_weight.toFixed(4)}, discloss ${e.disc_loss.toFixed(4)}, steps/sec ${stepsPerSecond.toFixed(2)}`,
      curve: { keys: ['rec_loss', 'disc_loss', 'g_loss'], title: `${name}: autoencoder losses` },
      divergenceHint: 'Lower model.base_learning_rate, then resume.',
    });
  } finally {
    ctx.optimizer.dispose();
    ctx.discOptimizer.dispose();
    ae.dispose();
    loss.dispose();
    if (!options.source) await source.close();
  }
}

/**
 * Initial weights: DINOv3 (`train.dinov3_weights` or `dinoconfig.weights`; `random` keeps the seeded random init,
 * for tests), LPIPS (`train.lpips_vgg` + `train.lpips_lin`, needed when `perceptual_weight` > 0), and the upstream
 * `ckpt_path` (a `DinoDecoder` state dict, discriminator included when present). When resuming, the checkpoint
 * holds DINOv3 and the trained parts; only LPIPS is read here.
 */
async function initWeights(config: AutoencoderTrainConfig, ae: SvgAutoencoder, loss: LpipsWithDiscriminator, base: string, resuming: boolean, log: RunLog): Promise<void> {
  const rel = (p: unknown) => (typeof p === 'string' && p !== '' ? (isAbsolute(p) ? p : resolve(base, p)) : null);
  const dino = config.train.dinov3Weights ?? rel((config.modelParams.dinoconfig as Record<string, unknown> | undefined)?.weights);
  if (!dino) throw new Error('DINOv3 weights are needed: set model.params.dinoconfig.weights or train.dinov3_weights (`random` for tests)');
  if (dino === 'random') await log.write('DINOv3: seeded random weights (train.dinov3_weights: random) — for tests and demos only');
  else if (!resuming) {
    ae.encoder!.loadStateDict(findStateDict(await readCheckpointFile(dino)));
    await log.write(`DINOv3 weights: ${dino}`);
  }
  if (loss.config.perceptual_weight > 0) {
    const { lpipsVgg, lpipsLin } = config.train;
    if (!lpipsVgg) throw new Error('LPIPS needs the VGG16 weights: set train.lpips_vgg (torchvision vgg16 .pth) and train.lpips_lin (taming vgg.pth), or perceptual_weight: 0');
    loss.perceptualLoss.loadWeights(findStateDict(await readCheckpointFile(lpipsVgg)), lpipsLin ? findStateDict(await readCheckpointFile(lpipsLin)) : undefined);
    await log.write(`LPIPS weights: ${lpipsVgg}${lpipsLin ? ` + ${lpipsLin}` : ''}`);
  }
  if (config.ckptPath && !resuming) {
    const sd = findStateDict(await readCheckpointFile(config.ckptPath));
    ae.loadStateDict(sd, { strict: false });
    const disc = new Map([...sd].filter(([k]) => k.startsWith(DISC_PREFIX)).map(([k, v]) => [k.slice(DISC_PREFIX.length), v]));
    if (disc.size > 0) loadStateDict(loss.discriminator, disc);
    await log.write(`initial weights from ${config.ckptPath}${disc.size > 0 ? ' (with discriminator)' : ''}`);
  }
}

/** Rank 0's trained weights, optimizer moments, mask stream and starting point on every rank. */
async function shareRunState(dist: Distributed, ctx: AutoencoderStepContext, start: LoopStart): Promise<LoopStart> {
  const main = dist.isMain;
  ctx.autoencoder.loadStateDict(await shareTensors(dist, main ? await stateDict(ctx.autoencoder) : null), { strict: true });
  loadStateDict(ctx.loss.discriminator, await shareTensors(dist, main ? await stateDict(ctx.loss.discriminator) : null));
  ctx.optimizer.loadState(await shareTensors(dist, main ? await ctx.optimizer.saveState() : null));
  ctx.discOptimizer.loadState(await shareTensors(dist, main ? await ctx.discOptimizer.saveState() : null));
  const shared = await dist.broadcastJson(main ? { start, mask: ctx.autoencoder.maskRandom.getState() } : null);
  ctx.autoencoder.maskRandom.setState(shared!.mask);
  return shared!.start;
}

async function restore(path: string, state: CheckpointState, ctx: AutoencoderStepContext): Promise<{ step: number; position: DataPosition }> {
  ctx.autoencoder.loadStateDict(await readCheckpointTensors(path, MODEL_FILE), { strict: true });
  const disc = await readCheckpointTensors(path, DISC_FILE);
  loadStateDict(ctx.loss.discriminator, new Map([...disc].map(([k, v]) => [k.slice(DISC_PREFIX.length), v])));
  ctx.optimizer.loadState(await readCheckpointTensors(path, OPTIMIZER_FILE));
  ctx.discOptimizer.loadState(await readCheckpointTensors(path, DISC_OPTIMIZER_FILE));
  ctx.autoencoder.maskRandom.setState((state.random as { mask: number[] }).mask);
  return { step: state.step, position: state.data as DataPosition };
}

async function openImages(config: AutoencoderTrainConfig, log: RunLog): Promise<ImageSource> {
  const size = config.train.imageSize ?? 256;
  if (config.train.dataset === 'fashion-mnist') {
    await log.write(`data: Fashion-MNIST, centred on ${size}×${size} RGB`);
    return FashionMnistImages.open(config.dataRoot ?? undefined, { limit: config.train.limit ?? undefined, size });
  }
  if (config.train.dataset !== 'image-folder') throw new Error(`train.dataset ${config.train.dataset} is not an image source for the autoencoder`);
  if (!config.dataRoot) throw new Error('data.params.train.params.data_root is not set');
  await log.write(`data: images under ${config.dataRoot}, ADM centre crop ${size}`);
  return FolderImages.open(config.dataRoot, { size, limit: config.train.limit ?? undefined });
}

/** Inputs (odd columns) next to their reconstructions (even columns), 4 pairs per row. */
async function writeReconstructionGrid(ae: SvgAutoencoder, fixed: Float32Array, size: number, runDir: string, step: number, config: AutoencoderTrainConfig): Promise<string> {
  const n = fixed.length / (size * size * 3);
  ae.eval();
  const recon = tf.tidy(() => ae.reconstruct(tf.tensor4d(fixed, [n, size, size, 3]), { clamp: true }));
  const out = (await recon.data()) as Float32Array;
  recon.dispose();
  const toImage = (data: Float32Array, i: number) => {
    const per = size * size * 3;
    const pixels = new Uint8Array(per);
    for (let k = 0; k < per; k++) pixels[k] = Math.round((Math.min(1, Math.max(-1, data[i * per + k])) + 1) * 127.5);
    return { classIndex: -1, seed: 0, width: size, height: size, pixels };
  };
  const images = Array.from({ length: n }, (_, i) => [toImage(fixed, i), toImage(out, i)]).flat();
  const grid = imageGrid(images, { columns: 8 });
  const dir = join(runDir, 'samples');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `step-${String(step).padStart(7, '0')}.png`);
  await writeFileAtomic(file, await encodePng({ ...grid, channels: 3 }, { Title: `${config.train.expName ?? 'autoencoder'}: inputs | reconstructions at step ${step}`, Software: 'svg-ts @svg/train' }));
  return file;
}

/**
 * Draws the random initial value of every parameter not loaded from a file, now and in state-dict order. Parameters
 * are created on first use, so otherwise the values drawn from the init seed would depend on the order in which the
 * code first touches them (e.g. on whether rank 0 shares its weights before the first step).
 */
function drawInitialValues(...modules: { namedParameters(): [string, { value: tf.Tensor }][] }[]): void {
  for (const m of modules) for (const [, p] of m.namedParameters()) void p.value;
}

function prefixed(sd: Map<string, RawTensor>, prefix: string): Map<string, RawTensor> {
  return new Map([...sd].map(([k, v]) => [prefix + k, v]));
}

function countOf(ae: SvgAutoencoder, names: string[]): number {
  const params = new Map(ae.namedParameters());
  return names.reduce((n, name) => n + params.get(name)!.shape.reduce((a, b) => a * b, 1), 0);
}
