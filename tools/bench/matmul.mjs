#!/usr/bin/env node
// GFLOP/s of the hot CPU ops on tfjs' cpu and wasm backends, without and with the @svg/blas OpenBLAS kernels, and of
// numpy on the same OpenBLAS (/usr/bin/python3) for reference. Needs a built @svg/blas (npm run build -w @svg/blas).
//
//   node tools/bench/matmul.mjs [cpu] [wasm] [cpu+blas] [wasm+blas] [numpy]     (default: all)
//
// Each case runs `out = op(); await out.data(); out.dispose()` end to end (read-back included): once to warm up,
// then until 3 s have passed or 20 runs (at least 3), and reports the median. FLOPs are 2·M·N·K (conv: 2·H·W·Cin·Cout·9).
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { blasAvailable, blasInfo, blasKernelStats, blasLoadError, registerBlasKernels, unregisterBlasKernels } from '@svg/blas';

tf.env().set('PROD', true);

const CASES = {
  'matmul 1024²': {
    flops: 2 * 1024 ** 3,
    kernel: tf.BatchMatMul,
    inputs: () => [tf.randomNormal([1024, 1024]), tf.randomNormal([1024, 1024])],
    op: (a, b) => tf.matMul(a, b),
  },
  'attention bmm [16,256,72]·[16,72,256]': {
    flops: 2 * 16 * 256 * 256 * 72,
    kernel: tf.BatchMatMul,
    inputs: () => [tf.randomNormal([16, 256, 72]), tf.randomNormal([16, 72, 256])],
    op: (a, b) => tf.matMul(a, b),
  },
  'conv2d 3×3 [1,64,64,128]→128': {
    flops: 2 * 64 * 64 * 128 * 128 * 9,
    kernel: tf.Conv2D,
    inputs: () => [tf.randomNormal([1, 64, 64, 128]), tf.randomNormal([3, 3, 128, 128], 0, 0.03)],
    op: (x, w) => tf.conv2d(x, w, 1, 'same'),
  },
};

async function timeCase({ inputs, op }) {
  const args = inputs();
  const once = async () => {
    const start = performance.now();
    const out = op(...args);
    await out.data();
    out.dispose();
    return performance.now() - start;
  };
  await once();
  const times = [];
  const begin = performance.now();
  while (times.length < 20 && (times.length < 3 || performance.now() - begin < 3000)) times.push(await once());
  tf.dispose(args);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function benchTfjs(config) {
  const [backend, blas] = config.split('+');
  await tf.setBackend(backend);
  await tf.ready();
  unregisterBlasKernels();
  if (blas && !registerBlasKernels(backend)) throw new Error(`@svg/blas did not register: ${blasLoadError()?.message}`);
  const row = {};
  for (const [name, c] of Object.entries(CASES)) {
    const native = blasKernelStats()[c.kernel]?.native ?? 0;
    const ms = await timeCase(c);
    if (blas && (blasKernelStats()[c.kernel]?.native ?? 0) === native) throw new Error(`${name}: the BLAS kernel did not run`);
    row[name] = c.flops / ms / 1e6;
  }
  unregisterBlasKernels();
  return row;
}

function benchNumpy() {
  const script = `
import json, time, numpy as np
rng = np.random.default_rng(0)
def bench(a, b):
    a @ b
    times, begin = [], time.perf_counter()
    while len(times) < 20 and (len(times) < 3 or time.perf_counter() - begin < 3):
        t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1000
f = lambda *s: rng.standard_normal(s, dtype=np.float32)
print(json.dumps([bench(f(1024, 1024), f(1024, 1024)), bench(f(16, 256, 72), f(16, 72, 256)), bench(f(4096, 1152), f(1152, 128))]))
`;
  const run = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`numpy benchmark failed: ${run.stderr}`);
  const ms = JSON.parse(run.stdout);
  return Object.fromEntries(Object.entries(CASES).map(([name, c], i) => [name, c.flops / ms[i] / 1e6]));
}

const configs = process.argv.slice(2).length ? process.argv.slice(2) : ['cpu', 'wasm', 'cpu+blas', 'wasm+blas', 'numpy'];
if (!blasAvailable()) console.warn(`@svg/blas addon not loaded (${blasLoadError()?.message}): +blas rows will fail`);
else console.log(`OpenBLAS: ${blasInfo().config}, ${blasInfo().threads} threads`);

const names = Object.keys(CASES);
console.log(`| config | ${names.join(' | ')} |`);
console.log(`| --- | ${names.map(() => '---').join(' | ')} |`);
for (const config of configs) {
  const row = config === 'numpy' ? benchNumpy() : await benchTfjs(config);
  const label = config === 'numpy' ? 'numpy (same OpenBLAS; conv = its im2col GEMM [4096,1152]·[1152,128])' : config;
  console.log(`| ${label} | ${names.map((n) => row[n].toFixed(1)).join(' | ')} |`);
}
tf.removeBackend('wasm');
