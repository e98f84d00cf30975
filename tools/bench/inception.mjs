// pytorch-fid's FID Inception v3 (@svg/eval loadFidInception) at batch 2, 299×299 → pool3 [2, 2048], on tfjs backends
// (wasm by default: initBackend registers @svg/blas' OpenBLAS kernels), against PyTorch on the CPU
// (tools/bench/inception_torch.py: the same network written in torch.nn, same weights, same input, 2 threads), with
// GFLOP/s from the conv layer table (flops.mjs inceptionFlops: 11.42 GFLOP = 5.71 G multiply-adds per image) and a
// check that both give the same pool3 (max abs difference, also of each to the fixture's pytorch-fid pool3).
//
// Weights: the random-weight fixture with pytorch-fid's checkpoint keys, shared/fixtures/eval/
// fid_inception_v3.weights.safetensors (env SVG_FIXTURES overrides the fixtures folder); input: the two photographs `x`
// of eval/inception_fid_299.io.safetensors, tiled to --batch.
//
// Usage (against the built packages):
//   node tools/bench/inception.mjs [--backends wasm,cpu] [--runs 3] [--batch 2] [--threads 2] [--no-torch]
// Timed: `pool3(x)` + read-back (includes the 2x − 1 input scaling, and the small fc/mean heads forward computes),
// 1 warm-up, then the median of --runs. Also the `inception` case of tools/bench/run.mjs (buildInception below).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = process.env.SVG_FIXTURES ? resolve(process.env.SVG_FIXTURES) : resolve(here, '..', '..', '..', 'shared', 'fixtures');
export const INCEPTION_WEIGHTS = join(FIXTURES, 'eval', 'fid_inception_v3.weights.safetensors');
const INCEPTION_IO = join(FIXTURES, 'eval', 'inception_fid_299.io.safetensors');

/**
 * The FID Inception with the fixture weights and an input batch (NHWC [batch, 299, 299, 3] in [0, 1], the fixture's
 * photographs tiled) on the current backend. `expected`: the fixture's pytorch-fid pool3 for those rows.
 */
export async function buildInception(tf, batch = 2) {
  const { readSafetensorsFile } = await import('@svg/weights/node');
  const { toFloat32 } = await import('@svg/weights');
  const { loadFidInception } = await import('@svg/eval');
  const { tensors } = await readSafetensorsFile(INCEPTION_WEIGHTS);
  const model = loadFidInception(tensors);
  let params = 0;
  for (const [k, t] of tensors) if (!/running_(mean|var)$/.test(k)) params += t.shape.reduce((a, b) => a * b, 1);
  const io = (await readSafetensorsFile(INCEPTION_IO, { names: ['x', 'pool3'] })).tensors;
  const xRaw = io.get('x');
  const n = xRaw.shape[0];
  const rows = Array.from({ length: batch }, (_, i) => i % n);
  const x = tf.tidy(() => {
    const nchw = tf.tensor4d(toFloat32(xRaw), xRaw.shape);
    return tf.transpose(tf.gather(nchw, tf.tensor1d(rows, 'int32')), [0, 2, 3, 1]);
  });
  const want = toFloat32(io.get('pool3'));
  const expected = new Float32Array(batch * 2048);
  rows.forEach((r, i) => expected.set(want.subarray(r * 2048, (r + 1) * 2048), i * 2048));
  return { model, x, params, expected };
}

export const maxAbsDiff = (a, b) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function main() {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('@svg/nn');
  const { inceptionFlops } = await import('./flops.mjs');
  const args = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const backends = opt('backends', 'wasm').split(',');
  const batch = Number(opt('batch', 2));
  const runs = Number(opt('runs', 3));
  const threads = Number(opt('threads', 2));
  const gflop = inceptionFlops(batch) / 1e9;
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const line = (who, ms, extra = '') =>
    console.log(`${who.padEnd(9)} ${ms.toFixed(1).padStart(8)} ms/batch of ${batch} ${(ms / batch).toFixed(1).padStart(7)} ms/image ${((1000 * batch) / ms).toFixed(2).padStart(6)} images/s ${(gflop / (ms / 1000)).toFixed(1).padStart(6)} GFLOP/s${extra}`);

  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`FID Inception v3, batch ${batch} × 299² → pool3; ${gflop.toFixed(2)} GFLOP per batch (convs, 2 per multiply-add)`);
  const ours = [];
  for (const b of backends) {
    const info = await initBackend(b);
    const { model, x, expected } = await buildInception(tf, batch);
    let pool3;
    const once = async () => {
      const t0 = performance.now();
      const y = model.pool3(x);
      const v = await y.data();
      const ms = performance.now() - t0;
      y.dispose();
      pool3 = v;
      return ms;
    };
    await once(); // warm-up
    const ms = [];
    for (let i = 0; i < runs; i++) ms.push(await once());
    const r = { backend: b, detail: info.detail, ms, median: median(ms), pool3, vsFixture: maxAbsDiff(pool3, expected) };
    ours.push(r);
    line(b, r.median, ` (median of [${ms.map((v) => v.toFixed(0))}]) — ${info.detail}; pool3 max abs vs fixture ${r.vsFixture.toExponential(2)}`);
    tf.dispose(x);
    model.dispose();
  }
  if (!args.includes('--no-torch')) {
    const dir = mkdtempSync(join(tmpdir(), 'inception-bench-'));
    const dump = join(dir, 'pool3.f32');
    const p = spawnSync('/usr/bin/python3', [join(here, 'inception_torch.py'), '--threads', String(threads), '--batch', String(batch), '--iters', String(runs), '--input', 'fixture', '--dump-pool3', dump], { encoding: 'utf8' });
    if (p.status !== 0) {
      console.log(`PyTorch baseline unavailable: ${(p.stderr || p.error?.message || '').trim().split('\n').pop()}`);
    } else {
      const t = JSON.parse(p.stdout.trim().split('\n').pop());
      const buf = readFileSync(dump);
      const tp = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      const tms = median(t.times_ms);
      line('pytorch', tms, ` (median of [${t.times_ms.map((v) => v.toFixed(0))}]) — torch ${t.torch}, ${t.threads} threads; pool3 max abs vs fixture ${t.pool3_max_abs_vs_fixture?.toExponential(2)}`);
      let maxAbs = 0;
      for (const v of tp) maxAbs = Math.max(maxAbs, Math.abs(v));
      for (const r of ours) {
        console.log(`${r.backend}: ${(r.median / tms).toFixed(2)}× PyTorch time (>1 = slower); pool3 ours vs PyTorch: max abs diff ${maxAbsDiff(r.pool3, tp).toExponential(2)} (max |pool3| ${maxAbs.toFixed(3)})`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (tf.findBackend('wasm')) tf.removeBackend('wasm');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
