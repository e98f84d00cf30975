#!/usr/bin/env node
/**
 * DiT forward benchmark against the built packages (run `npx tsup` in packages/nn, weights and dit first).
 * One forward of batch 2 × 256 tokens with randomly initialised weights (upstream init, no loading), per model and
 * backend: warm-up, then the median of --runs timed forwards (read-back included). GFLOP/s from forwardFlops().
 * With --torch, tools/bench/dit_torch.py (PyTorch CPU, same model built from the spec) is timed on the same machine.
 *
 *   node tools/bench/dit.mjs                       # S on cpu and wasm, XL on wasm, plus PyTorch
 *   node tools/bench/dit.mjs --models S --backends wasm --runs 5 --no-torch
 *
 * Flags: --models S,XL (B, L too)  --backends cpu,wasm,webgpu  --runs N (default 3; L, XL: 2)  --batch 2
 *        --threads 2 (PyTorch)  --no-torch. XL on cpu takes ~15 min, so cpu runs only S unless --cpu-xl is given.
 *
 * The one benchmark to quote is tools/bench/run.mjs (npm run bench); this script is the DiT-only detail, without CFG.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../packages/nn/dist/index.js';
import { createDiT, forwardFlops } from '../../packages/dit/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const models = flag('models', 'S,XL').split(',');
const backends = flag('backends', 'cpu,wasm').split(',');
const batch = Number(flag('batch', '2'));
const threads = Number(flag('threads', '2'));
const withTorch = !args.includes('--no-torch');
const cpuXL = args.includes('--cpu-xl');
const runsFor = (model) => Number(flag('runs', model === 'XL' || model === 'L' ? '2' : '3'));
const tokens = 256;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const rows = [];

for (const backend of backends) {
  if (backend === 'webgpu' && !process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  const info = await initBackend(backend);
  for (const model of models) {
    if (backend === 'cpu' && (model === 'XL' || model === 'L') && !cpuXL) continue;
    const t0 = performance.now();
    const dit = createDiT(model, { seed: 0 });
    const initS = (performance.now() - t0) / 1000;
    const x = tf.randomNormal([batch, tokens, 392]);
    const t = Array.from({ length: batch }, (_, i) => (i + 0.5) / batch);
    const y = Array.from({ length: batch }, (_, i) => (i * 389) % 1001);
    const once = async () => {
      const start = performance.now();
      const out = dit.forward(x, t, y);
      await out.data();
      out.dispose();
      return (performance.now() - start) / 1000;
    };
    const seconds = [];
    try {
      await once(); // warm-up
      for (let i = 0; i < runsFor(model); i++) seconds.push(await once());
    } catch (e) {
      console.log(`${model} ${backend}: failed after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${e.message}`);
      rows.push({ model, backend: `${info.name} (${info.detail})`, error: String(e.message) });
      continue;
    }
    const flops = forwardFlops(model, batch, tokens);
    const s = median(seconds);
    rows.push({ model, backend: `${info.name} (${info.detail})`, seconds, median_s: s, gflops: flops / 1e9, gflop_per_s: flops / 1e9 / s, init_s: initS });
    console.log(`${model} ${backend}: ${s.toFixed(2)} s median of [${seconds.map((v) => v.toFixed(2))}], ${(flops / 1e9).toFixed(1)} GFLOP → ${(flops / 1e9 / s).toFixed(2)} GFLOP/s (init ${initS.toFixed(1)} s)`);
    x.dispose();
    dit.dispose();
  }
}

if (withTorch) {
  for (const model of models) {
    const out = execFileSync('/usr/bin/python3', [join(here, 'dit_torch.py'), '--model', model, '--batch', String(batch), '--tokens', String(tokens), '--threads', String(threads), '--runs', String(runsFor(model))], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop());
    const gflops = forwardFlops(model, batch, tokens) / 1e9;
    console.log(`${model} PyTorch ${r.torch} CPU ${r.threads} threads: ${r.median_s.toFixed(2)} s median of [${r.seconds.map((v) => v.toFixed(2))}] → ${(gflops / r.median_s).toFixed(2)} GFLOP/s`);
    for (const row of rows.filter((x) => x.model === model && !x.error)) {
      row.torch_median_s = r.median_s;
      row.ratio_to_torch = r.median_s / row.median_s; // > 1: faster than PyTorch
      console.log(`  ${model} ${row.backend}: ${(100 * row.ratio_to_torch).toFixed(1)} % of PyTorch CPU speed`);
    }
  }
}
console.log(JSON.stringify({ batch, tokens, rows }));
