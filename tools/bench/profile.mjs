#!/usr/bin/env node
/**
 * Per-kernel profile of one forward (after a warm-up), to see where the time goes before optimising.
 *
 *   node tools/bench/profile.mjs dit-S|dit-XL|dinov3|decoder|train-S [--backend wasm] [--top 25] [--by-shape] [--batch 4]
 *
 * train-S: one training step of DiT-S as `svg train` takes it on the Fashion-MNIST preset (8 channels, 10 classes,
 * batch --batch, default 4): rectified-flow loss, gradients on the tape, AdamW, EMA.
 * Kernel times come from tf.profile (wall time per kernel on cpu/wasm), summed by kernel name, with the share of the
 * forward and the number of calls; --by-shape keys them by kernel and input shapes instead. Random weights; needs the built packages (npm run build).
 */
import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom, initBackend, setInitSeed } from '@svg/nn';
import { DiT, createDiT } from '@svg/dit';
import { createDinov3 } from '@svg/dinov3';
import { SVG_AUTOENCODER_CONFIG, createSvgAutoencoder } from '@svg/autoencoder';
import { AdamW, Ema, ditTrainStep } from '@svg/train';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const which = args[0] ?? 'dit-S';
const top = Number(opt('top', 25));
const info = await initBackend(opt('backend', 'wasm'));
setInitSeed(0);

function build(name) {
  if (name.startsWith('dit-')) {
    const dit = createDiT(name.slice(4), { seed: 0 });
    const x = tf.randomNormal([2, 256, 392]);
    return { run: () => dit.forward(x, [0.25, 0.75], [1, 2]) };
  }
  if (name === 'dinov3') {
    const model = createDinov3('vits16plus');
    const x = tf.randomUniform([1, 256, 256, 3]);
    return { run: () => model.forwardFeatures(x) };
  }
  if (name === 'decoder') {
    const model = createSvgAutoencoder(SVG_AUTOENCODER_CONFIG, { decoderOnly: true });
    const z = tf.randomNormal([1, 16, 16, 392]);
    return { run: () => model.decode(z) };
  }
  if (name === 'train-S') {
    const config = { hiddenSize: 384, depth: 12, numHeads: 6, mlpRatio: 4, inChannels: 8, numClasses: 10, classDropoutProb: 0.1 };
    const model = createDiT(config, { seed: 0 });
    const batch = Number(opt('batch', 4));
    const ctx = { model, optimizer: new AdamW(model.trainableParameters(), { lr: 1e-4, weightDecay: 0 }), ema: new Ema(model, new DiT(model.config)), random: new SeededRandom(0), shift: 1, clipGradNorm: null, emaDecay: 0.99 };
    const tokens = tf.randomNormal([batch, 256, 8]);
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
    return { run: async () => (await ditTrainStep(ctx, [{ tokens, labels }], 1), []) };
  }
  throw new Error(`unknown model '${name}': dit-S, dit-B, dit-L, dit-XL, dinov3, decoder, train-S`);
}

const { run } = build(which);
const outputs = (r) => (r instanceof tf.Tensor ? [r] : Array.isArray(r) ? r.flat(Infinity) : Object.values(r)).filter((t) => t instanceof tf.Tensor);
const readAll = async (r) => {
  for (const t of outputs(r)) await t.data();
  tf.dispose(outputs(r));
};
await readAll(await run()); // warm-up
const t0 = performance.now();
await readAll(await run());
const wallMs = performance.now() - t0;
const profile = await tf.profile(async () => {
  await readAll(await run());
});
const byKernel = new Map();
let kernelTotal = 0;
// Scopes that wrap other kernels (fused ops' __op, customGrad's unnamed scope) would count their kernels twice.
const isWrapper = (name) => name.endsWith('__op') || name === 'unnamed scope';
for (const k of profile.kernels) {
  if (isWrapper(k.name)) continue;
  const ms = await k.kernelTimeMs;
  const key = args.includes('--by-shape') ? `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join('')}` : k.name;
  const e = byKernel.get(key) ?? { ms: 0, calls: 0 };
  e.ms += typeof ms === 'number' ? ms : 0;
  e.calls++;
  byKernel.set(key, e);
  kernelTotal += typeof ms === 'number' ? ms : 0;
}
console.log(`${which} on ${info.name} (${info.detail}): forward ${wallMs.toFixed(0)} ms wall; kernels sum ${kernelTotal.toFixed(0)} ms over ${profile.kernels.length} calls`);
const width = Math.max(24, ...[...byKernel.keys()].map((k) => k.length + 2));
console.log('kernel'.padEnd(width) + 'ms'.padStart(9) + 'share'.padStart(8) + 'calls'.padStart(7));
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
  console.log(name.padEnd(width) + e.ms.toFixed(1).padStart(9) + `${((100 * e.ms) / kernelTotal).toFixed(1)}%`.padStart(8) + String(e.calls).padStart(7));
}
