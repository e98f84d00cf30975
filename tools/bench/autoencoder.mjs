// Milliseconds per 256×256 image for SVG autoencoder encode (DINOv3 ViT-S/16+ + residual ViT + match_distribution)
// and decode (LDM decoder, official config), random weights, on tfjs backends, and the ratio to PyTorch on the CPU
// (tools/bench/autoencoder_torch.py: the same model written from the spec, 2 threads).
//
// Usage (against the built packages):
//   for p in weights nn dinov3 autoencoder; do (cd packages/$p && npx tsup); done
//   node tools/bench/autoencoder.mjs [--backends cpu,wasm] [--runs 3] [--batch 1] [--no-torch]
// initBackend registers @svg/blas' OpenBLAS kernels on cpu/wasm when it is built; SVG_BLAS=0 measures stock tfjs.
// webgpu is left out by default: here it is SwiftShader (CPU emulation, ~0.1 GFLOP/s); add it with
// --backends webgpu on a machine with a GPU.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, setInitSeed } from '@svg/nn';
import { SVG_AUTOENCODER_CONFIG, createSvgAutoencoder } from '@svg/autoencoder';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const backends = opt('backends', 'cpu,wasm').split(',');
const batch = Number(opt('batch', 1));
const runs = Number(opt('runs', 3));
const here = dirname(fileURLToPath(import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function timeBackend(name) {
  if (name === 'webgpu' && !process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  const info = await initBackend(name);
  setInitSeed(0);
  const model = createSvgAutoencoder(SVG_AUTOENCODER_CONFIG);
  const images = tf.randomUniform([batch, 256, 256, 3], -1, 1, 'float32', 1);
  const latent = model.encode(images); // allocates the weights, compiles kernels
  const timed = async (f) => {
    await (await f()).data(); // warm-up
    const ms = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const out = f();
      await out.data(); // end to end: includes the read-back
      ms.push(performance.now() - t0);
      out.dispose();
    }
    return ms;
  };
  const encodeMs = await timed(() => model.encode(images));
  const decodeMs = await timed(() => model.decode(latent));
  tf.dispose([images, latent]);
  model.dispose();
  return { backend: name, detail: info.detail, encode: median(encodeMs) / batch, decode: median(decodeMs) / batch, encodeMs, decodeMs };
}

function torchBaseline(threads) {
  const r = spawnSync('/usr/bin/python3', [join(here, 'autoencoder_torch.py'), '--threads', String(threads), '--batch', String(batch), '--iters', String(runs)], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`PyTorch baseline unavailable: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
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
  const fmt = (ms) => `[${ms.map((v) => v.toFixed(0)).join(', ')}]`;
  console.log(`${b.padEnd(7)} encode ${r.encode.toFixed(0).padStart(6)} ms/image ${fmt(r.encodeMs)}, decode ${r.decode.toFixed(0).padStart(6)} ms/image ${fmt(r.decodeMs)} — ${r.detail}`);
}
if (!args.includes('--no-torch')) {
  const t = torchBaseline(2);
  if (t) {
    console.log(`pytorch encode ${t.encode_ms_per_image.toFixed(0).padStart(6)} ms/image, decode ${t.decode_ms_per_image.toFixed(0).padStart(6)} ms/image (2 threads, torch ${t.torch})`);
    for (const r of results) {
      console.log(`${r.backend}: encode ${(r.encode / t.encode_ms_per_image).toFixed(2)}× PyTorch, decode ${(r.decode / t.decode_ms_per_image).toFixed(2)}× PyTorch (time ratio, >1 = slower)`);
    }
  }
}
console.log(`load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
if (tf.findBackend('wasm')) tf.removeBackend('wasm');
