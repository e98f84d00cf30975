#!/usr/bin/env node
/**
 * Data-parallel training benchmark against the built packages (`npm run build` first): DiT-S (hidden 384, depth 12,
 * 6 heads) on the Fashion-MNIST preset with a fixed global batch, on 1 and on 2 ranks (`mpirun -np 2` on this host),
 * reporting steps/s, samples/s, and per step the time rank 0 spent in the gradient all-reduce and the bytes it sent
 * into it. The cores are split between the ranks (OpenBLAS/OpenMP threads = cores / ranks), so on one host the
 * rows show the cost of the communication, not a speed-up: that needs more hosts (or GPUs).
 *
 *   node tools/bench/distributed.mjs                                  # wasm, global batch 8, 8 timed steps
 *   node tools/bench/distributed.mjs --backend cpu --batch 4 --steps 4 --ranks 1,2
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const backend = flag('backend', 'wasm');
const batch = Number(flag('batch', '8'));
const steps = Number(flag('steps', '8'));
const WARMUP = 2;

if (args.includes('--worker')) {
  const { initDistributed } = await import('@svg/distributed');
  const { loadTrainConfig, trainDiT } = await import('@svg/train');
  const dist = await initDistributed();
  const base = await loadTrainConfig(fileURLToPath(new URL('../../configs/tiny-dit-fashion-mnist.yaml', import.meta.url)));
  const config = {
    ...base,
    globalBatchSize: batch,
    clipGradNorm: null,
    ckptEvery: 1e9,
    logEvery: 1e9,
    model: { ...base.model, hiddenSize: 384, depth: 12, numHeads: 6, mlpRatio: 4 },
    train: { ...base.train, sampleEvery: 0, gradientCheckpointing: backend === 'wasm' },
  };
  const runDir = flag('run-dir');
  const times = [];
  let reduce = { seconds: 0, bytes: 0 };
  await trainDiT({
    config, runDir, backend, maxSteps: WARMUP + steps, distributed: dist,
    onProgress: (p) => {
      times.push(performance.now());
      if (p.step === WARMUP) reduce = { seconds: dist.stats.allReduceSeconds, bytes: dist.stats.allReduceBytes };
    },
  });
  if (dist.isMain) {
    const timed = times.slice(WARMUP - 1);
    const perStep = (timed[timed.length - 1] - timed[0]) / 1000 / (timed.length - 1);
    console.log(`RESULT ${JSON.stringify({
      ranks: dist.worldSize, backend, batch, perRank: batch / dist.worldSize, stepsPerSecond: 1 / perStep, samplesPerSecond: batch / perStep,
      allReduceSecondsPerStep: (dist.stats.allReduceSeconds - reduce.seconds) / steps, allReduceBytesPerStep: (dist.stats.allReduceBytes - reduce.bytes) / steps,
    })}`);
  }
  process.exit(0);
}

const cores = availableParallelism();
const rows = [];
for (const ranks of flag('ranks', '1,2').split(',').map(Number)) {
  const runDir = mkdtempSync(join(tmpdir(), 'svg-bench-dist-'));
  const threads = String(Math.max(1, Math.floor(cores / ranks)));
  const worker = [process.execPath, fileURLToPath(import.meta.url), '--worker', '--backend', backend, '--batch', String(batch), '--steps', String(steps), '--run-dir', runDir];
  const command = ranks === 1 ? worker : ['mpirun', '--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', String(ranks), ...worker];
  process.stderr.write(`${ranks} rank(s), ${threads} thread(s) each: ${command.slice(0, 8).join(' ')} …\n`);
  const r = spawnSync(command[0], command.slice(1), { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads }, maxBuffer: 1 << 26 });
  rmSync(runDir, { recursive: true, force: true });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) {
    console.log(`${ranks} rank(s): failed (exit ${r.status})\n${r.stderr.slice(-2000)}`);
    continue;
  }
  rows.push({ ...JSON.parse(line.slice(7)), threads: Number(threads) });
}

console.log(`\nDiT-S training, ${backend}, global batch ${batch}, ${steps} timed steps after ${WARMUP}; ${cores} cores on this host\n`);
console.log('| ranks | batch per rank | threads per rank | steps/s | samples/s | all-reduce s/step | all-reduce MB/step | share of the step |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const share = r.allReduceSecondsPerStep * r.stepsPerSecond;
  console.log(`| ${r.ranks} | ${r.perRank} | ${r.threads} | ${r.stepsPerSecond.toFixed(3)} | ${r.samplesPerSecond.toFixed(2)} | ${r.allReduceSecondsPerStep.toFixed(3)} | ${(r.allReduceBytesPerStep / 1e6).toFixed(1)} | ${(100 * share).toFixed(1)} % |`);
}
console.log(JSON.stringify({ backend, batch, steps, cores, rows }));
