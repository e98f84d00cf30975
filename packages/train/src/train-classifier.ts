import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initDistributed } from '@svg/distributed';
import { SeededRandom, setInitSeed, stateDict } from '@svg/nn';
import { writeFileAtomic, writeSafetensorsFile } from '@svg/weights/node';
import { type CheckpointState, readCheckpointTensors } from './checkpoint';
import { type ClassifierNet, createClassifierNet } from './classifier-net';
import { type ClassifierTrainConfig, loadTrainConfig } from './config';
import { type DataPosition, FashionMnistImages, type ImageBatch } from './data';
import { NonFiniteLossError } from './dit-step';
import { globalNorm } from './clip';
import { loadFashionMnist } from './fashion-mnist';
import { type LoopStart, runTrainingLoop } from './loop';
import { AdamW } from './optim';
import { type TrainOptions, type TrainResult, openRun } from './run';

const MODEL_FILE = 'model.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
/** The trained backbone alone (DINOv3 official names, or the CNN), written when the run ends. */
export const BACKBONE_FILE = 'backbone.safetensors';
/** Test-set accuracy of the final model, written when the run ends. */
export const EVAL_FILE = 'eval.json';

/** `eval.json` of a classifier run. */
export interface ClassifierEval {
  step: number;
  /** Top-1 accuracy on the whole test split. */
  testAccuracy: number;
  testImages: number;
  /** Per-class test accuracy, by label. */
  perClass: number[];
}

/**
 * Trains a supervised classifier on Fashion-MNIST (ours; see {@link ClassifierTrainConfig}): the semantic encoder of
 * the demo SVG (`model.arch: dinov3`, a linear head on DINOv3's `[cls ⊕ mean patch]` features) or the CNN that scores
 * samples (`model.arch: cnn`). Cross-entropy, AdamW with linear warm-up then cosine decay to `max_steps`, optional
 * random flips; resumable bit for bit like the other trainers (weights, optimiser moments, data position, flip RNG).
 *
 * When the run ends it writes, next to `checkpoints/`: `backbone.safetensors` (the encoder alone — what the SVG
 * autoencoder loads as its frozen DINOv3 — or the whole CNN) and `eval.json` (top-1 accuracy on the 10,000 test images).
 *
 * @example
 * const r = await trainClassifier({ config: 'configs/fashion-mnist/encoder.yaml', backend: 'wasm' });
 */
export async function trainClassifier(options: TrainOptions): Promise<TrainResult & { eval: ClassifierEval | null }> {
  const config = typeof options.config === 'string' ? await loadTrainConfig(options.config) : options.config;
  if (config.kind !== 'classifier') throw new Error(`trainClassifier needs a classifier config (model.arch); ${config.file ?? 'this config'} is a ${config.kind} config`);
  const runDir = options.runDir ?? join(config.train.resultsDir ?? 'runs', config.train.expName ?? 'classifier');
  // Classifiers train in one process (the CLI refuses a launcher): a single-process job, whatever the environment says.
  const { run, resumeFrom } = await openRun(config, runDir, options, await initDistributed({ env: {} }));
  const { log } = run;

  const { batchSize, seed } = config;
  const source = await FashionMnistImages.open(config.dataRoot ?? undefined, { limit: config.train.limit ?? undefined, size: config.imageSize });
  const perEpoch = Math.floor(source.samplesPerEpoch({ batchSize, seed }) / batchSize);
  const maxSteps = options.maxSteps ?? config.train.maxSteps ?? perEpoch * config.epochs;
  setInitSeed(seed);
  const net = createClassifierNet(config.model);
  net.setTrainable(true);
  net.train();
  const optimizer = new AdamW(net.trainableParameters(), { lr: config.optim.lr, betas: config.optim.betas, weightDecay: config.optim.weightDecay });
  const flips = new SeededRandom(seed + 0x20000);
  try {
    let start: LoopStart = { step: 0, position: { epoch: 0, index: 0 }, lastCheckpoint: null, resumed: false };
    if (resumeFrom) {
      const { step, position } = await restore(resumeFrom.path, resumeFrom.state, net, optimizer, flips);
      start = { step, position, lastCheckpoint: resumeFrom.path, resumed: true };
      await log.write(`resumed from ${resumeFrom.path} (step ${step}, epoch ${position.epoch}, sample ${position.index})`);
    }
    await log.write(
      `${config.model.arch} classifier (${net.parameterCount().toLocaleString('en')} parameters), batch ${batchSize}, ${perEpoch} steps per epoch, stop at step ${maxSteps}`,
    );
    const trained = await runTrainingLoop<ImageBatch>({
      kind: 'classifier',
      ...run,
      options,
      start,
      maxSteps,
      epochs: null,
      batchesPerStep: 1,
      logEvery: config.logEvery,
      checkpointEvery: config.ckptEvery,
      sampleEvery: 0,
      keepCheckpoints: config.train.keepCheckpoints,
      batches: (from) => source.batches(from, { batchSize, seed }),
      step: async ([batch], step) => {
        const mirror = config.flip ? Array.from({ length: batch.count }, () => flips.uniform() < 0.5) : null;
        optimizer.lr = learningRate(config, step, maxSteps);
        const r = await classifierStep(net, optimizer, batch.images, batch.count, batch.size, batch.labels!, config.model.numClasses, mirror, step + 1);
        return { loss: r.loss, gradNorm: r.gradNorm, extra: { train_accuracy: r.accuracy, grad_norm: r.gradNorm } };
      },
      lr: () => optimizer.lr,
      checkpoint: async (position) => ({
        files: { [MODEL_FILE]: await stateDict(net), [OPTIMIZER_FILE]: await optimizer.saveState() },
        state: { kind: 'classifier', epoch: position.epoch, data: position, random: { flips: flips.getState() }, config: config.raw, time: new Date().toISOString() },
      }),
      logLine: (step, interval, stepsPerSecond) =>
        `(step=${String(step).padStart(7, '0')}) loss ${interval.loss.toFixed(4)}, train accuracy ${(100 * interval.extra.train_accuracy).toFixed(1)} %, steps/sec ${stepsPerSecond.toFixed(2)}`,
      curve: { keys: ['loss'], title: `${config.train.expName ?? 'classifier'}: cross-entropy` },
      divergenceHint: 'Lower optim.base_learning_rate, then resume.',
    });
    const { step, stopped } = trained;
    let result: ClassifierEval | null = null;
    if (stopped === 'max-steps' && step > 0) {
      net.eval();
      result = await evaluateClassifier(net, config, step);
      await writeSafetensorsFile(join(runDir, BACKBONE_FILE), await stateDict(net.backbone), { source: `svg-ts @svg/train ${config.model.arch} classifier, step ${step}` });
      await writeFileAtomic(join(runDir, EVAL_FILE), `${JSON.stringify(result, null, 2)}\n`);
      await log.write(`test accuracy ${(100 * result.testAccuracy).toFixed(2)} % on ${result.testImages} images; wrote ${join(runDir, BACKBONE_FILE)}`);
    }
    return { ...trained, eval: result };
  } finally {
    optimizer.dispose();
    net.dispose();
    await source.close();
  }
}

/** Linear warm-up to `lr` over `warmup_steps`, then cosine decay to 0 at `maxSteps`. */
export function learningRate(config: Pick<ClassifierTrainConfig, 'optim'>, step: number, maxSteps: number): number {
  const { lr, warmupSteps } = config.optim;
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  const span = Math.max(1, maxSteps - warmupSteps);
  return 0.5 * lr * (1 + Math.cos((Math.PI * Math.min(span, step - warmupSteps)) / span));
}

/** One cross-entropy step; reads back loss, batch accuracy and the gradient norm (one sync). */
async function classifierStep(
  net: ClassifierNet,
  optimizer: AdamW,
  pixels: Float32Array,
  count: number,
  size: number,
  labels: Int32Array,
  classes: number,
  mirror: boolean[] | null,
  step: number,
): Promise<{ loss: number; accuracy: number; gradNorm: number }> {
  const params = new Map(net.trainableParameters());
  const names = new Map<string, string>();
  const vars = optimizer.parameterNames.map((name) => {
    const p = params.get(name)!;
    names.set(p.variable.name, name);
    return p.variable;
  });
  const images = tf.tidy(() => {
    const x = tf.tensor4d(pixels, [count, size, size, 3]);
    if (!mirror?.some(Boolean)) return x;
    const m = tf.tensor4d(mirror.map((f) => (f ? 1 : 0)), [count, 1, 1, 1]);
    return tf.add(tf.mul(tf.reverse(x, 2), m), tf.mul(x, tf.sub(1, m))) as tf.Tensor4D;
  });
  const onehot = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes));
  let correct: tf.Tensor | null = null;
  try {
    const { value, grads } = tf.variableGrads(() => {
      const logits = net.logits(images);
      correct = tf.keep(tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(labels, 'int32')), 'float32')));
      return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
    }, vars);
    const byName = new Map<string, tf.Tensor>();
    for (const [v, g] of Object.entries(grads)) byName.set(names.get(v)!, g);
    const norm = globalNorm(byName.values());
    const [l, a, n] = await Promise.all([value.data(), correct!.data(), norm.data()]);
    tf.dispose([value, norm]);
    if (!Number.isFinite(l[0]) || !Number.isFinite(n[0])) {
      tf.dispose([...byName.values()]);
      throw new NonFiniteLossError(step, l[0], n[0]);
    }
    optimizer.step(byName);
    tf.dispose([...byName.values()]);
    return { loss: l[0], accuracy: a[0], gradNorm: n[0] };
  } finally {
    tf.dispose([images, onehot]);
    if (correct) tf.dispose(correct);
  }
}

/** Top-1 accuracy of `net` (eval mode) on the Fashion-MNIST test split, in batches of 250. */
export async function evaluateClassifier(net: ClassifierNet, config: ClassifierTrainConfig, step: number): Promise<ClassifierEval> {
  const test = await loadFashionMnist(config.dataRoot ?? undefined, 'test');
  const images = FashionMnistImages.fromImages(test, config.imageSize);
  const classes = config.model.numClasses;
  const hits = new Array<number>(classes).fill(0);
  const totals = new Array<number>(classes).fill(0);
  for (let start = 0; start < test.count; start += 250) {
    const idx = Uint32Array.from({ length: Math.min(250, test.count - start) }, (_, i) => start + i);
    const x = tf.tensor4d(images.render(idx), [idx.length, config.imageSize, config.imageSize, 3]);
    const pred = tf.tidy(() => tf.argMax(net.logits(x), 1));
    const p = (await pred.data()) as Int32Array;
    tf.dispose([x, pred]);
    idx.forEach((k, i) => {
      const y = test.labels[k];
      totals[y]++;
      if (p[i] === y) hits[y]++;
    });
  }
  const correct = hits.reduce((a, b) => a + b, 0);
  return { step, testAccuracy: correct / test.count, testImages: test.count, perClass: hits.map((h, i) => h / Math.max(1, totals[i])) };
}

async function restore(path: string, state: CheckpointState, net: ClassifierNet, optimizer: AdamW, flips: SeededRandom): Promise<{ step: number; position: DataPosition }> {
  net.load(await readCheckpointTensors(path, MODEL_FILE));
  optimizer.loadState(await readCheckpointTensors(path, OPTIMIZER_FILE));
  flips.setState((state.random as { flips: number[] }).flips);
  return { step: state.step, position: state.data as DataPosition };
}
