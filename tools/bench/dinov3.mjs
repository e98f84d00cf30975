// Milliseconds per 256×256 image of DINOv3 ViT-S/16+ (full depth 12, random weights) on tfjs backends, and the
// ratio to PyTorch on the CPU (tools/bench/dinov3_torch.py, the same-size model written from the spec, 2 threads).
//
// Usage (against the built packages):
//   (cd packages/weights && npx tsup) && (cd packages/nn && npx tsup) && (cd packages/dinov3 && npx tsup)
//   node tools/bench/dinov3.mjs [--backends cpu,wasm,wasm+blas] [--runs 5] [--size 256] [--batch 1] [--no-torch]
// `<backend>+blas` registers @svg/blas' OpenBLAS kernels on cpu/wasm first (build packages/blas too).
// webgpu is left out by default: here it is SwiftShader (CPU emulation, ~0.1 GFLOP/s), so its time means nothing;
// add it with --backends webgpu on a machine with a GPU.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, setInitSeed } from '@svg/nn';
import { createDinov3 } from '@svg/dinov3';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const backends = opt('backends', 'cpu,wasm').split(',');
const size = Number(opt('size', 256));
const batch = Number(opt('batch', 1));
const runs = Number(opt('runs', 5));
const here = dirname(fileURLToPath(import.meta.url));

async function timeBackend(spec) {
  const [name, extra] = spec.split('+');
  const info = await initBackend(name);
  if (extra === 'blas') {
    const { registerBlasKernels, unregisterBlasKernels } = await import('@svg/blas');
    unregisterBlasKernels();
    if (!registerBlasKernels(name)) throw new Error(`@svg/blas kernels could not be registered on ${name}`);
    info.detail += ' + OpenBLAS kernels';
  } else if (backends.some((b) => b.includes('+blas'))) {
    const { unregisterBlasKernels } = await import('@svg/blas');
    unregisterBlasKernels();
  }
  setInitSeed(0);
  const model = createDinov3('vits16plus');
  const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
  const once = async () => {
    const t0 = performance.now();
    const out = model.forwardFeatures(x);
    await out.patchTokens.data(); // end to end: includes the read-back
    tf.dispose(Object.values(out));
    return performance.now() - t0;
  };
  await once(); // allocates the weights, builds the RoPE tables, compiles kernels
  // The cpu backend takes ~30 s per image here: two timed runs are enough to see it.
  const n = spec === 'cpu' ? Math.min(runs, 2) : runs;
  const times = [];
  for (let i = 0; i < n; i++) times.push(await once());
  times.sort((a, b) => a - b);
  x.dispose();
  model.dispose();
  return { backend: spec, detail: info.detail, runs: n, msPerImage: times[Math.floor(n / 2)] / batch, bestMsPerImage: times[0] / batch };
}

function torchBaseline(threads) {
  const r = spawnSync('/usr/bin/python3', [join(here, 'dinov3_torch.py'), '--threads', String(threads), '--size', String(size), '--batch', String(batch), '--iters', String(runs)], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`PyTorch baseline (${threads} threads) unavailable: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// The machine may be shared: the load average says how far to trust the numbers.
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const results = [];
for (const b of backends) {
  const r = await timeBackend(b);
  results.push(r);
  console.log(`${b.padEnd(9)} ${r.msPerImage.toFixed(0).padStart(7)} ms/image (median of ${r.runs}, best ${r.bestMsPerImage.toFixed(0)}) — ${r.detail}`);
}
if (!args.includes('--no-torch')) {
  const torch2 = torchBaseline(2);
  const torch1 = torchBaseline(1);
  for (const t of [torch2, torch1]) if (t) console.log(`pytorch   ${t.ms_per_image.toFixed(0).padStart(7)} ms/image (${t.threads} thread${t.threads > 1 ? 's' : ''}, torch ${t.torch})`);
  for (const r of results) {
    const ratios = [torch2, torch1].filter(Boolean).map((t) => `${(r.msPerImage / t.ms_per_image).toFixed(2)}× PyTorch ${t.threads}T`);
    if (ratios.length) console.log(`${r.backend}: ${ratios.join(', ')} (time ratio, >1 = slower)`);
  }
}
console.log(`load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
if (tf.findBackend('wasm')) tf.removeBackend('wasm');
