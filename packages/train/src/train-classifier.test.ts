// tfjs-core before @svg/nn: the other order breaks gradients under vitest (see the package README, "Known issues").
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@svg/nn';
import { createDinov3 } from '@svg/dinov3';
import { loadConvClassifier } from '@svg/eval';
import { readSafetensorsFile } from '@svg/weights/node';
import { type ClassifierTrainConfig, loadTrainConfig, parseTrainConfig } from './config';
import { FashionMnistImages } from './data';
import { loadFashionMnist } from './fashion-mnist';
import { BACKBONE_FILE, type ClassifierEval, EVAL_FILE, learningRate, trainClassifier } from './train-classifier';

const CONFIGS = join(__dirname, '../../../configs');
let dir: string;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'svg-classifier-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trainClassifier', () => {
  it('the CNN judge learns Fashion-MNIST in 80 steps, and its backbone file scores the test images as eval.json says', async () => {
    const c = (await loadTrainConfig(join(CONFIGS, 'fashion-mnist/classifier.yaml'))) as ClassifierTrainConfig;
    const runDir = join(dir, 'cnn');
    const config: ClassifierTrainConfig = { ...c, batchSize: 32, ckptEvery: 40, train: { ...c.train, limit: 4000, maxSteps: 80 } };
    const tensors = new Map<number, number>();
    const result = await trainClassifier({ config, runDir, onProgress: (p) => void tensors.set(p.step, tf.memory().numTensors) });
    expect(result.stopped).toBe('max-steps');
    expect(tensors.get(80)).toBe(tensors.get(10)); // no tensor leaks across steps (checkpoint at 40 included)
    const report = JSON.parse(await readFile(join(runDir, EVAL_FILE), 'utf8')) as ClassifierEval;
    console.log(`CNN after 80 steps of 32: test accuracy ${(100 * report.testAccuracy).toFixed(1)} %`);
    expect(report.testImages).toBe(10000);
    expect(report.testAccuracy).toBeGreaterThan(0.6); // chance is 0.1
    expect(report.perClass).toHaveLength(10);

    const net = loadConvClassifier((await readSafetensorsFile(join(runDir, BACKBONE_FILE))).tensors);
    const test = await loadFashionMnist(undefined, 'test', 1000);
    const x = tf.tensor4d(FashionMnistImages.fromImages(test, 32).render(Uint32Array.from({ length: 1000 }, (_, i) => i)), [1000, 32, 32, 3]);
    const predicted = await net.predict(x);
    x.dispose();
    const accuracy = predicted.reduce((n, p, i) => n + (p === test.labels[i] ? 1 : 0), 0) / 1000;
    expect(Math.abs(accuracy - report.testAccuracy)).toBeLessThan(0.05);
    net.dispose();
  });

  it('the DINOv3 encoder resumes bit for bit (weights, AdamW moments, flips), and its backbone loads as a DINOv3 ViT', async () => {
    const config = parseTrainConfig(
      {
        model: { arch: 'dinov3', num_classes: 10, dinoconfig: { model_name: 'dinov3_vits16plus', overrides: { patchSize: 4, embedDim: 16, numHeads: 1, depth: 1, layerscaleInit: 1, posEmbedRopeRescaleCoords: null } } },
        data: { image_size: 32, batch_size: 8, flip: true },
        optim: { base_learning_rate: 1e-3, weight_decay: 0.05, warmup_steps: 2 },
        train: { limit: 64, max_steps: 4, ckpt_every: 2, log_every: 1, seed: 5 },
      },
      join(dir, 'enc.yaml'),
    ) as ClassifierTrainConfig;
    await trainClassifier({ config, runDir: join(dir, 'straight') });
    await trainClassifier({ config, runDir: join(dir, 'cut'), maxSteps: 2 });
    await trainClassifier({ config, runDir: join(dir, 'cut'), resume: true });
    for (const file of ['model.safetensors', 'optimizer.safetensors']) {
      const a = await readFile(join(dir, 'straight/checkpoints/0000004', file));
      const b = await readFile(join(dir, 'cut/checkpoints/0000004', file));
      expect(Buffer.compare(a, b), file).toBe(0);
    }
    const vit = createDinov3('vits16plus', { patchSize: 4, embedDim: 16, numHeads: 1, depth: 1, layerscaleInit: 1, posEmbedRopeRescaleCoords: null });
    vit.loadStateDict((await readSafetensorsFile(join(dir, 'straight', BACKBONE_FILE))).tensors, { strict: true });
    vit.dispose();
  });

  it('warms the learning rate up linearly, then decays it on a cosine to zero', () => {
    const c = { optim: { lr: 1e-3, warmupSteps: 10, weightDecay: 0, betas: [0.9, 0.999] as [number, number] } };
    expect(learningRate(c, 0, 110)).toBeCloseTo(1e-4, 12);
    expect(learningRate(c, 9, 110)).toBeCloseTo(1e-3, 12);
    expect(learningRate(c, 60, 110)).toBeCloseTo(5e-4, 12);
    expect(learningRate(c, 110, 110)).toBeCloseTo(0, 12);
  });

  it('rejects a classifier config with an unknown architecture, naming the key', () => {
    expect(() => parseTrainConfig({ model: { arch: 'resnet' } }, '/x/c.yaml')).toThrow(/model.arch must be dinov3 or cnn, got "resnet"/);
    expect(() => parseTrainConfig({ model: { arch: 'cnn', channels: [8, -1] } }, '/x/c.yaml')).toThrow(/model.channels/);
  });
});
