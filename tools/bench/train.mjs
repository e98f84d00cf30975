#!/usr/bin/env node
/**
 * Training-speed benchmark against the built packages (`npm run build` first): optimiser steps/s and samples/s of
 * the DiT on the Fashion-MNIST preset (configs/tiny-dit-fashion-mnist.yaml) at two sizes — the preset's tiny model
 * and DiT-S (hidden 384, depth 12, 6 heads) — and of the tiny autoencoder preset (`ae`,
 * configs/tiny-autoencoder-fashion-mnist.yaml), per backend, with peak RSS and the live tensor count after the run
 * (flat across steps = no leak). Steps after the first 3 are timed; median of per-step rates reported.
 * DiT-S (256 tokens) at batch 8 needs ≈ 5.6 GB at the peak of its backward pass, more than tfjs-wasm's 4 GiB heap:
 * it trains there only with --gradient-checkpointing (peak RSS ≈ 1.6 GB). The S rows run at batch 2 unless --s-batch.
 *
 *   node tools/bench/train.mjs                      # tiny, S and ae on cpu and wasm, 30 steps each (cpu S is slow)
 *   node tools/bench/train.mjs --backends wasm --models S --steps 50
 *   node tools/bench/train.mjs --backends wasm --models S --s-batch 8 --gradient-checkpointing
 *   node tools/bench/train.mjs --backends wasm --models S --s-batch 8 --gradient-checkpointing --torch   # + PyTorch
 *
 * --torch: the S rows also time PyTorch's training step of the same model and batch (train_torch.py, Debian's
 * /usr/bin/python3 with python3-torch, 2 threads) and print ours/PyTorch (> 1: we are slower).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadTrainConfig, trainAutoencoder, trainDiT } from '@svg/train';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const backends = flag('backends', 'cpu,wasm').split(',');
const models = flag('models', 'tiny,S,ae').split(',');
const steps = Number(flag('steps', '30'));
const sBatch = Number(flag('s-batch', '2'));
const gradientCheckpointing = args.includes('--gradient-checkpointing');
const configPath = fileURLToPath(new URL('../../configs/tiny-dit-fashion-mnist.yaml', import.meta.url));
const SIZES = { tiny: {}, S: { hiddenSize: 384, depth: 12, numHeads: 6, mlpRatio: 4 } };

const base = await loadTrainConfig(configPath);
const aeBase = await loadTrainConfig(fileURLToPath(new URL('../../configs/tiny-autoencoder-fashion-mnist.yaml', import.meta.url)));
const rows = [];
for (const backend of backends) {
  for (const model of models) {
    const clipGradNorm = model === 'S' ? null : base.clipGradNorm;
    const globalBatchSize = model === 'S' ? sBatch : base.globalBatchSize;
    const config =
      model === 'ae'
        ? { ...aeBase, train: { ...aeBase.train, sampleEvery: 0 }, ckptEvery: 1e9 }
        : { ...base, clipGradNorm, globalBatchSize, model: { ...base.model, ...SIZES[model] }, train: { ...base.train, sampleEvery: 0, gradientCheckpointing }, ckptEvery: 1e9 };
    const batch = model === 'ae' ? config.batchSize : config.globalBatchSize;
    const runDir = mkdtempSync(join(tmpdir(), 'svg-bench-train-'));
    const rates = [];
    let last = performance.now();
    let peakRss = 0;
    let tensorsAtStep4 = 0;
    let tensorsAtLastStep = 0;
    await (model === 'ae' ? trainAutoencoder : trainDiT)({
      config, runDir, backend, maxSteps: steps,
      onProgress: (p) => {
        const now = performance.now();
        if (p.step > 3) rates.push(1000 / (now - last));
        if (p.step === 4) tensorsAtStep4 = tf.memory().numTensors;
        tensorsAtLastStep = tf.memory().numTensors;
        last = now;
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    });
    rmSync(runDir, { recursive: true, force: true });
    const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)];
    const row = { backend: tf.getBackend(), model, params: { S: 'DiT-S', tiny: 'tiny DiT', ae: 'tiny autoencoder' }[model], batch, stepsPerSecond: median, samplesPerSecond: median * batch, peakRssMiB: peakRss / 2 ** 20, tensorsAtStep4, tensorsAtLastStep };
    if (args.includes('--torch') && model === 'S') {
      const script = fileURLToPath(new URL('train_torch.py', import.meta.url));
      const r = spawnSync(flag('python', '/usr/bin/python3'), [script, '--model', 'S', '--batch', String(batch), '--channels', String(config.model.inChannels), '--classes', String(config.model.numClasses), '--runs', '5'], { encoding: 'utf8' });
      const line = r.stdout.trim().split('\n').at(-1);
      if (r.status === 0 && line) {
        row.torchSecondsPerStep = JSON.parse(line).median_s;
        row.oursOverTorch = 1 / median / row.torchSecondsPerStep;
      } else row.torchError = (r.stderr || r.error?.message || '').trim().split('\n').at(-1);
    }
    rows.push(row);
    const torch = row.torchSecondsPerStep ? `; PyTorch ${row.torchSecondsPerStep.toFixed(2)} s/step, ours/PyTorch ${row.oursOverTorch.toFixed(2)}` : row.torchError ? `; PyTorch failed: ${row.torchError}` : '';
    console.log(`${row.backend.padEnd(5)} ${model.padEnd(5)} ${median.toFixed(2)} steps/s (${(1 / median).toFixed(2)} s/step), ${row.samplesPerSecond.toFixed(1)} samples/s (batch ${row.batch}), peak RSS ${row.peakRssMiB.toFixed(0)} MiB, live tensors at step 4 / last step ${tensorsAtStep4} / ${tensorsAtLastStep}${torch}`);
  }
}
console.log(JSON.stringify({ steps, rows }));
