import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type ConvClassifier, FeatureStatsAccumulator, type GaussianStats, frechetDistance, loadConvClassifier } from '@svg/eval';
import { generateImages } from '@svg/generate';
import { FashionMnistImages, loadFashionMnist } from '@svg/train';
import { readSafetensorsFile, writeFileAtomic } from '@svg/weights/node';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption, numberOption } from '../command';
import { requireFile } from '../files';
import { DEFAULT_MODEL_DIR, loadModelFolder } from '../models';
import { ProgressBar } from '../progress';

/** What `svg eval` measures (also its `--json` output). */
export interface EvalReport {
  model: string;
  classifier: string;
  samples: number;
  settings: { steps: number; cfg: number; shift: number; seed: number };
  /** Share of samples the classifier assigns to the class they were generated for. */
  conditionalAccuracy: number;
  perClassAccuracy: Record<string, number>;
  /** Fréchet distance in the classifier's penultimate features: samples vs the test images. */
  frechetSamplesTest: number;
  /** The same distance for as many real training images vs the test images (the floor). */
  frechetTrainTest: number;
  /** The classifier's own accuracy on the test images. */
  classifierTestAccuracy: number;
  seconds: number;
}

export const evalCommand = defineCommand({
  name: 'eval',
  summary: "score a generator with a classifier: conditional accuracy and Fréchet distance of its samples (Fashion-MNIST)",
  usage: 'svg eval [--model <dir>] [--classifier <safetensors>] [--num 1000] [--steps 25] [--cfg 4] [--json report.json]',
  examples: ['svg eval --num 1000', 'svg eval --num 1000 --steps 5', 'svg eval --num 1000 --cfg 1 --json no-cfg.json', 'svg eval --num 10000 --batch 100'],
  options: {
    model: { type: 'string' },
    classifier: { type: 'string' },
    num: { type: 'string', default: '1000' },
    steps: { type: 'string' },
    cfg: { type: 'string' },
    shift: { type: 'string' },
    seed: { type: 'string', default: '0' },
    batch: { type: 'string', default: '50' },
    data: { type: 'string' },
    json: { type: 'string' },
    ...backendOption,
  },
  optionHelp: {
    model: 'model folder with svg-model.json (default: the shipped Fashion-MNIST SVG)',
    classifier: "the judge: a ConvClassifier safetensors (default: the model folder's classifier)",
    num: 'samples, balanced over the classes (label of sample i: i mod classes; default 1000)',
    steps: "sampling steps (default: the model's, 25)",
    cfg: "guidance scale (default: the model's, 4; 1 = no guidance)",
    shift: "time shift (default: the model's)",
    seed: 'sample i uses noise seed seed+i (default 0)',
    batch: 'samples per generation call (default 50)',
    data: 'Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist)',
    json: 'also write the report as JSON',
    ...backendHelp,
  },
  async run({ values }) {
    const started = Date.now();
    const num = intOption(values, 'num', 10, 1_000_000)!;
    const batch = intOption(values, 'batch', 1, 4096)!;
    const seed = intOption(values, 'seed', 0, Number.MAX_SAFE_INTEGER)!;
    await startBackend(values.backend);
    const dir = (values.model as string | undefined) ?? DEFAULT_MODEL_DIR;
    const model = await loadModelFolder(dir);
    const { manifest, dit, autoencoder, stats } = model;
    const classifierPath = (values.classifier as string | undefined) ?? (manifest.classifier ? join(dir, manifest.classifier) : undefined);
    if (!classifierPath) throw new CliError(`${dir}: the model ships no classifier; name one with --classifier`);
    requireFile(classifierPath, 'classifier');
    let judge: ConvClassifier;
    try {
      judge = loadConvClassifier((await readSafetensorsFile(classifierPath)).tensors);
    } catch (e) {
      throw new CliError(`${classifierPath}: ${(e as Error).message}`);
    }
    const settings = {
      steps: intOption(values, 'steps', 1, 10_000) ?? manifest.sampling.steps ?? 25,
      cfg: numberOption(values, 'cfg') ?? manifest.sampling.cfg ?? 4,
      shift: numberOption(values, 'shift') ?? manifest.sampling.shift ?? 1,
      seed,
    };
    const size = manifest.imageSize;
    const data = values.data as string | undefined;

    const reference = await realImageStats(judge, data, 'test', 10_000, size);
    const floor = await realImageStats(judge, data, 'train', num, size);
    const classes = manifest.classes.length;
    const hits = new Array<number>(classes).fill(0);
    const totals = new Array<number>(classes).fill(0);
    const acc = new FeatureStatsAccumulator(judge.config.hidden);
    const bar = new ProgressBar('sampling', num, 'img');
    for (let start = 0; start < num; start += batch) {
      const labels = Array.from({ length: Math.min(batch, num - start) }, (_, i) => (start + i) % classes);
      const images = await generateImages({ dit, decoder: autoencoder, stats, classes: labels, seed: seed + start, steps: settings.steps, cfg: settings.cfg, shift: settings.shift });
      const pixels = new Float32Array(labels.length * size * size * 3);
      images.forEach((im, i) => im.pixels.forEach((v, j) => (pixels[i * size * size * 3 + j] = v / 127.5 - 1)));
      const { predictions, features } = await judgeImages(judge, pixels, labels.length, size);
      acc.add(features, labels.length);
      labels.forEach((y, i) => {
        totals[y]++;
        if (predictions[i] === y) hits[y]++;
      });
      bar.update(start + labels.length);
    }
    const report: EvalReport = {
      model: dir,
      classifier: classifierPath,
      samples: num,
      settings,
      conditionalAccuracy: hits.reduce((a, b) => a + b, 0) / num,
      perClassAccuracy: Object.fromEntries(manifest.classes.map((name, k) => [name, hits[k] / Math.max(1, totals[k])])),
      frechetSamplesTest: frechetDistance(acc.result(), reference.stats),
      frechetTrainTest: frechetDistance(floor.stats, reference.stats),
      classifierTestAccuracy: reference.accuracy,
      seconds: (Date.now() - started) / 1000,
    };
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    console.log(`${manifest.name}: ${num} samples, ${settings.steps} steps, cfg ${settings.cfg}, shift ${settings.shift}`);
    console.log(`  conditional accuracy          ${pct(report.conditionalAccuracy)}`);
    console.log(`  per class                     ${manifest.classes.map((n, k) => `${n} ${pct(hits[k] / Math.max(1, totals[k]))}`).join(', ')}`);
    console.log(`  Fréchet distance, samples–test  ${report.frechetSamplesTest.toFixed(3)}`);
    console.log(`  Fréchet distance, train–test    ${report.frechetTrainTest.toFixed(3)}  (${num} real training images: the floor)`);
    console.log(`  classifier test accuracy      ${pct(report.classifierTestAccuracy)}`);
    console.log(`  ${report.seconds.toFixed(0)} s`);
    if (typeof values.json === 'string') {
      await writeFileAtomic(values.json, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`wrote ${values.json}`);
    }
  },
});

/** Classifier predictions and penultimate features of NHWC images in [-1, 1]. */
async function judgeImages(judge: ConvClassifier, pixels: Float32Array, count: number, size: number): Promise<{ predictions: Int32Array; features: Float32Array }> {
  const x = tf.tensor4d(pixels, [count, size, size, 3]);
  const [f, p] = tf.tidy(() => {
    const features = judge.features(x);
    return [features, tf.argMax(judge.out.forward(features), 1)];
  });
  const [features, predictions] = await Promise.all([f.data(), p.data()]);
  tf.dispose([x, f, p]);
  return { predictions: predictions as Int32Array, features: features as Float32Array };
}

/** Feature statistics and classifier accuracy of the first `limit` real images of a split. */
async function realImageStats(judge: ConvClassifier, dir: string | undefined, split: 'train' | 'test', limit: number, size: number): Promise<{ stats: GaussianStats; accuracy: number }> {
  let data;
  try {
    data = await loadFashionMnist(dir, split, limit);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const images = FashionMnistImages.fromImages(data, size);
  const acc = new FeatureStatsAccumulator(judge.config.hidden);
  let correct = 0;
  for (let start = 0; start < data.count; start += 500) {
    const idx = Uint32Array.from({ length: Math.min(500, data.count - start) }, (_, i) => start + i);
    const { predictions, features } = await judgeImages(judge, images.render(idx), idx.length, size);
    acc.add(features, idx.length);
    idx.forEach((k, i) => (correct += predictions[i] === data.labels[k] ? 1 : 0));
  }
  return { stats: acc.result(), accuracy: correct / data.count };
}
