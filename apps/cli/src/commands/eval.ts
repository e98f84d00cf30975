import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  type ConvClassifier,
  type EvaluationResult,
  FeatureStatsAccumulator,
  type FeatureExtractor,
  type GaussianStats,
  classifierExtractor,
  evaluateActivations,
  frechetDistance,
  inceptionExtractor,
  loadConvClassifier,
  loadFidInception,
} from '@svg/eval';
import { npzActivations } from '@svg/eval/node';
import { WeightsFormatError, findStateDict } from '@svg/weights';
import { generateImages } from '@svg/generate';
import { FashionMnistImages, loadFashionMnist } from '@svg/train';
import { readCheckpointFile, readSafetensorsFile, writeFileAtomic } from '@svg/weights/node';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption } from '../command';
import { requireFile } from '../files';
import { DEFAULT_MODEL_DIR, loadModelFolder } from '../models';
import { ProgressBar } from '../progress';
import { samplerFlags } from '../sampler-flags';

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
  summary: 'FID, sFID, Inception Score, precision and recall of an ADM sample batch; or score a model folder with its classifier',
  usage: [
    'svg eval --ref <ref.npz> --samples <samples.npz> (--inception <pt_inception.pth|.safetensors> | --features <classifier.safetensors>) [--json r.json]',
    '       svg eval [--model <dir>] [--classifier <safetensors>] [--num 1000] [--steps 25] [--cfg 4] [--json report.json]',
  ].join('\n'),
  examples: [
    'svg eval --ref VIRTUAL_imagenet256_labeled.npz --samples samples.npz --inception pt_inception-2015-12-05-6726825d.pth',
    'svg eval --ref test.npz --samples samples.npz --features packages/model-fashion-mnist/classifier.safetensors',
    'svg eval --num 1000',
    'svg eval --num 1000 --steps 5',
    'svg eval --num 1000 --cfg 1 --json no-cfg.json',
    'svg eval --num 10000 --batch 100',
  ],
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
    ref: { type: 'string' },
    samples: { type: 'string' },
    inception: { type: 'string' },
    features: { type: 'string' },
    'ref-stats': { type: 'string', default: 'stored' },
    'no-cache': { type: 'boolean' },
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
    ref: 'reference batch .npz (arr_0 uint8 images [N,H,W,3]; may carry mu, sigma, mu_s, sigma_s as ADM\'s do)',
    samples: 'sample batch .npz (arr_0 images, e.g. from svg sample --num N --npz)',
    inception: "pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth, or converted safetensors); bring the file, nothing is downloaded",
    features: 'use a ConvClassifier (e.g. the Fashion-MNIST judge) as the feature extractor instead of Inception',
    'ref-stats': "stored: use the reference npz's mu/sigma when it has them, as ADM does (default); images: recompute them from its images",
    'no-cache': 'recompute the activations instead of reusing <npz>.<extractor>.activations.safetensors',
    ...backendHelp,
  },
  async run({ values }) {
    if (values.ref !== undefined || values.samples !== undefined) return evaluateNpz(values);
    const started = Date.now();
    const num = intOption(values, 'num', 10, 1_000_000)!;
    const batch = intOption(values, 'batch', 1, 4096)!;
    const seed = intOption(values, 'seed', 0, Number.MAX_SAFE_INTEGER)!;
    samplerFlags(values); // bad flags fail before the models load
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
    const { steps, cfg, shift } = samplerFlags(values, manifest.sampling);
    const settings = { steps, cfg, shift, seed };
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

/** What `svg eval --ref --samples` reports (also its `--json` output). */
export interface NpzEvalReport extends EvaluationResult {
  reference: string;
  samples: string;
  features: string;
  referenceStatistics: 'stored' | 'images';
  seconds: number;
}

async function evaluateNpz(values: Record<string, unknown>): Promise<void> {
  const started = Date.now();
  const ref = values.ref as string | undefined;
  const samples = values.samples as string | undefined;
  if (!ref || !samples) throw new CliError('--ref and --samples go together: the reference batch and the sample batch (.npz)');
  requireFile(ref, 'reference batch');
  requireFile(samples, 'sample batch');
  const refStats = values['ref-stats'] as string;
  if (refStats !== 'stored' && refStats !== 'images') throw new CliError(`--ref-stats must be stored or images, got "${refStats}"`);
  if (values.inception !== undefined && values.features !== undefined) throw new CliError('give --inception or --features, not both');
  const batch = intOption(values, 'batch', 1, 4096) ?? 50;
  await startBackend(values.backend as string | undefined);
  const extractor = await loadExtractor(values);
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  try {
    const activations = async (path: string, what: string) => {
      let bar: ProgressBar | undefined;
      const a = await npzActivations(path, extractor, {
        batchSize: batch,
        cache: !values['no-cache'],
        onProgress: (done, total) => (bar ??= new ProgressBar(`${what} features`, total, 'img')).update(done),
      });
      console.log(`${what.padEnd(9)} ${path}: ${a.activations.count} images ${a.imageSize.join('×')}${a.cached ? ' (features from the cache)' : ''}`);
      if (a.cacheError) console.error(`svg eval: features not cached (${a.cacheError})`);
      return a;
    };
    const r = await activations(ref, 'reference');
    const s = await activations(samples, 'samples');
    const useStored = refStats === 'stored' && r.storedStats.pool !== undefined;
    const result = await evaluateActivations(r.activations, s.activations, { referenceStats: useStored ? r.storedStats : undefined });
    const report: NpzEvalReport = {
      reference: ref,
      samples,
      features: extractor.id,
      referenceStatistics: useStored ? 'stored' : 'images',
      ...result,
      seconds: (Date.now() - started) / 1000,
    };
    console.log(`features  ${extractor.id} (${extractor.poolDims}-d); reference statistics: ${useStored ? "the npz's mu/sigma (as ADM)" : 'from its images'}`);
    console.log(`  FID              ${result.fid.toFixed(3)}`);
    console.log(`  sFID             ${result.sfid === null ? '— (the extractor has no spatial features)' : result.sfid.toFixed(3)}`);
    console.log(`  Inception Score  ${result.inceptionScore === null ? '—' : result.inceptionScore.toFixed(3)}${extractor.id.startsWith('fid-inception') ? '' : ' (of this extractor\'s logits)'}`);
    console.log(`  Precision        ${pct(result.precision)}`);
    console.log(`  Recall           ${pct(result.recall)}`);
    console.log(`  ${report.seconds.toFixed(0)} s`);
    if (typeof values.json === 'string') {
      await writeFileAtomic(values.json, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`wrote ${values.json}`);
    }
  } catch (e) {
    if (e instanceof WeightsFormatError || (e instanceof Error && /dimensional|dimensions differ/.test(e.message))) throw new CliError(e.message);
    throw e;
  }
}

/** The feature extractor named by --inception or --features, with an id that changes when the weights do. */
async function loadExtractor(values: Record<string, unknown>): Promise<FeatureExtractor> {
  const inception = values.inception as string | undefined;
  const features = values.features as string | undefined;
  if (!inception && !features) {
    throw new CliError("FID needs pytorch-fid's Inception weights: --inception pt_inception-2015-12-05-6726825d.pth (bring the file; nothing is downloaded), or --features <classifier.safetensors> for another extractor");
  }
  const path = requireFile((inception ?? features)!, inception ? 'Inception weights' : 'classifier');
  let weights;
  try {
    weights = path.endsWith('.safetensors') ? (await readSafetensorsFile(path)).tensors : findStateDict(await readCheckpointFile(path));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (!weights) throw new CliError(`${path}: no state dict found`);
  try {
    if (inception) return inceptionExtractor(loadFidInception(weights), `fid-inception-v3-${weightsId(weights.get('fc.weight'))}`);
    return classifierExtractor(loadConvClassifier(weights), `conv-classifier-${weightsId(weights.get('fc.weight'))}`);
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

/** A short fingerprint of a weight tensor (names the feature cache, so other weights never reuse it). */
function weightsId(t: { data: ArrayBufferView } | undefined): string {
  if (!t) return 'none';
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, Math.min(t.data.byteLength, 1 << 16));
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
