import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDistributed } from '@svg/distributed';
import { toFloat32 } from '@svg/weights';
import { readSafetensorsFile } from '@svg/weights/node';
import { findLatestCheckpoint, listCheckpoints } from './checkpoint';
import { rankRows, shareTensors } from './data-parallel';

const worker = fileURLToPath(new URL('../test/data-parallel-worker.mjs', import.meta.url));
let dir: string;

/** `mpirun -np <np>` (or, for np = 0, a plain process) of the worker; returns its status, output and wall time. */
function launch(np: number, args: string[], env: Record<string, string> = {}) {
  const command = [process.execPath, worker, ...args];
  const argv = np === 0 ? command : ['mpirun', '--allow-run-as-root', '--oversubscribe', '-np', String(np), ...command];
  const started = Date.now();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}`, seconds: (Date.now() - started) / 1000 };
}

/** Largest absolute difference between the weights (model and, when present, EMA) of two runs' last checkpoints. */
async function weightDifference(a: string, b: string, files = ['model.safetensors', 'ema.safetensors']): Promise<{ step: number; maxAbs: number; tensors: number }> {
  const [ca, cb] = [await findLatestCheckpoint(join(a, 'checkpoints')), await findLatestCheckpoint(join(b, 'checkpoints'))];
  expect(ca!.state.step).toBe(cb!.state.step);
  let maxAbs = 0;
  let tensors = 0;
  for (const file of files) {
    const [ta, tb] = [(await readSafetensorsFile(join(ca!.path, file))).tensors, (await readSafetensorsFile(join(cb!.path, file))).tensors];
    expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort());
    for (const [name, t] of ta) {
      const [x, y] = [toFloat32(t), toFloat32(tb.get(name)!)];
      for (let i = 0; i < x.length; i++) maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
      tensors++;
    }
  }
  return { step: ca!.state.step, maxAbs, tensors };
}

// Averaging two half-batch means instead of one full-batch mean changes float32 rounding only: measured 6.0e-8 after
// 6 AdamW steps of the micro DiT (weights of order 0.1–1).
const TOLERANCE = 1e-6;

beforeAll(async () => {
  if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) throw new Error('build @svg/train first: the MPI ranks run the built package');
  dir = await mkdtemp(join(tmpdir(), 'svg-data-parallel-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rankRows', () => {
  it("gives rank r of W the global rows r, r + W, …", () => {
    const all = Float32Array.from({ length: 12 }, (_, i) => i); // 6 rows of 2
    expect(Array.from(rankRows(all, 6, 2, { rank: 0, worldSize: 3 }))).toEqual([0, 1, 6, 7]);
    expect(Array.from(rankRows(all, 6, 2, { rank: 2, worldSize: 3 }))).toEqual([4, 5, 10, 11]);
    expect(rankRows(all, 6, 2, { rank: 0, worldSize: 1 })).toBe(all);
  });

  it('shareTensors in one process returns the tensors', async () => {
    const dist = await initDistributed({ env: {} });
    const t = { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) };
    expect((await shareTensors(dist, new Map([['a', t]]))).get('a')).toBe(t);
  });
});

describe('trainDiT on 2 ranks under mpirun (global batch 4 = 2 × 2, accum_iter 2, label dropout)', () => {
  it('gives the weights of one process with the same global batch', async () => {
    const one = launch(0, [join(dir, 'one'), '6']);
    expect(one.status, one.output).toBe(0);
    const two = launch(2, [join(dir, 'two'), '6']);
    expect(two.status, two.output).toBe(0);
    expect(await readFile(join(dir, 'two', 'log.txt'), 'utf8')).toContain('data parallel: 2 ranks (mpirun, Open MPI');
    expect(two.output.match(/^RESULT \d /gm)).toHaveLength(2);
    // Rank 0 alone writes: one set of checkpoints, one metrics line per step.
    expect((await listCheckpoints(join(dir, 'two', 'checkpoints'))).map((c) => c.step)).toEqual([2, 4, 6]);
    const d = await weightDifference(join(dir, 'one'), join(dir, 'two'));
    expect(d.step).toBe(6);
    console.log(`1 process vs 2 ranks after 6 steps: max |Δw| = ${d.maxAbs.toExponential(2)}`);
    expect(d.maxAbs).toBeLessThan(TOLERANCE);
  });

  it('after kill -9 of one rank the job ends within seconds, and resuming gives the same weights', async () => {
    const run = join(dir, 'killed');
    // Rank 1 dies asking for the first micro-batch of step 4: rank 0 has written checkpoint 2 by then.
    const killed = launch(2, [run, '6'], { KILL_RANK: '1', KILL_AT_BATCH: '6' });
    expect(killed.status).not.toBe(0);
    expect(killed.seconds).toBeLessThan(60); // the collective timeout (300 s) is not what ended it
    expect((await listCheckpoints(join(run, 'checkpoints'))).map((c) => c.step)).toEqual([2]);
    const resumed = launch(2, [run, '6', 'latest']);
    expect(resumed.status, resumed.output).toBe(0);
    expect((await weightDifference(join(dir, 'one'), run)).maxAbs).toBeLessThan(TOLERANCE);
  });

  it('a checkpoint of 2 ranks resumes in 1 process (and the other way round) to the same weights', async () => {
    const fromTwo = launch(0, [join(dir, 'two-to-one'), '6', join(dir, 'two', 'checkpoints', '0000004')]);
    expect(fromTwo.status, fromTwo.output).toBe(0);
    expect((await weightDifference(join(dir, 'one'), join(dir, 'two-to-one'))).maxAbs).toBeLessThan(TOLERANCE);
    const fromOne = launch(2, [join(dir, 'one-to-two'), '6', join(dir, 'one', 'checkpoints', '0000002')]);
    expect(fromOne.status, fromOne.output).toBe(0);
    expect((await weightDifference(join(dir, 'one'), join(dir, 'one-to-two'))).maxAbs).toBeLessThan(TOLERANCE);
  });
});

describe('trainAutoencoder on 2 ranks under mpirun (batch_size per rank, as Lightning)', () => {
  it('2 ranks × batch 4 follow the loss curve of 1 process × batch 8 before the discriminator starts', async () => {
    const one = launch(0, [join(dir, 'ae-one'), '3'], { AUTOENCODER: '8' });
    expect(one.status, one.output).toBe(0);
    const two = launch(2, [join(dir, 'ae-two'), '3'], { AUTOENCODER: '4' });
    expect(two.status, two.output).toBe(0);
    expect(await readFile(join(dir, 'ae-two', 'log.txt'), 'utf8')).toContain('data parallel: 2 ranks');
    // Adam's first steps move each weight by ±lr whatever the gradient's size, so where a gradient is ~0 float32
    // summation order alone flips the step: the weights are compared through the losses they give.
    const losses = async (run: string) => (await readFile(join(dir, run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number; rec_loss: number });
    const [a, b] = [await losses('ae-one'), await losses('ae-two')];
    expect(b.map((m) => m.step)).toEqual([1, 2, 3]);
    let worst = 0;
    a.forEach((m, i) => (worst = Math.max(worst, Math.abs(b[i].loss / m.loss - 1), Math.abs(b[i].rec_loss / m.rec_loss - 1))));
    console.log(`autoencoder, 1 process vs 2 ranks, 3 steps: largest relative loss difference ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
  });
});
