import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { findLatestCheckpoint, listCheckpoints, verifyCheckpoint } from './checkpoint';
import { type DiTTrainConfig, loadTrainConfig } from './config';
import { type DataPosition, FashionMnistSource, type LatentSource, type StreamOptions, type TokenBatch } from './data';
import { NonFiniteLossError } from './dit-step';
import { trainDiT } from './train-dit';
import { useCpu } from './test-util';

const PRESET = join(__dirname, '../../../configs/tiny-dit-fashion-mnist.yaml');
let base: DiTTrainConfig;
let dir: string;

beforeAll(async () => {
  await useCpu();
  const c = await loadTrainConfig(PRESET);
  if (c.kind !== 'dit') throw new Error('expected a DiT preset');
  // A micro DiT so that the cpu backend (the bitwise reference) runs a step in well under a second.
  base = {
    ...c,
    globalBatchSize: 2,
    logEvery: 1,
    ckptEvery: 2,
    model: { ...c.model, hiddenSize: 16, depth: 1, numHeads: 1 },
    train: { ...c.train, limit: 64, sampleEvery: 0, keepCheckpoints: 10, maxSteps: 6 },
  };
  dir = await mkdtemp(join(tmpdir(), 'svg-train-dit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The digests of the weights, EMA and optimizer state of a run's last checkpoint: equal digests = equal bytes. */
async function finalDigests(runDir: string): Promise<Record<string, string>> {
  const latest = await findLatestCheckpoint(join(runDir, 'checkpoints'));
  const files = latest!.state.files;
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.sha256]));
}

describe('trainDiT resume (cpu, bitwise)', () => {
  let reference: Record<string, string>;

  it('runs 6 steps uninterrupted', async () => {
    const result = await trainDiT({ config: base, runDir: join(dir, 'straight') });
    expect(result).toMatchObject({ step: 6, stopped: 'max-steps' });
    expect((await listCheckpoints(join(dir, 'straight', 'checkpoints'))).map((c) => c.step)).toEqual([2, 4, 6]);
    reference = await finalDigests(join(dir, 'straight'));
    expect(Object.keys(reference).sort()).toEqual(['ema.safetensors', 'model.safetensors', 'optimizer.safetensors', 'stats.safetensors']);
  });

  it('after a crash at step 5 it resumes from step 4 and ends bit-identical', async () => {
    const runDir = join(dir, 'crash');
    const crash = trainDiT({
      config: base,
      runDir,
      onProgress: (p) => {
        if (p.step === 5) throw new Error('simulated crash');
      },
    });
    await expect(crash).rejects.toThrow('simulated crash');
    expect((await listCheckpoints(join(runDir, 'checkpoints'))).map((c) => c.step)).toEqual([2, 4]);
    const lines: string[] = [];
    const resumed = await trainDiT({ config: base, runDir, resume: true, onLog: (l) => lines.push(l) });
    expect(resumed.step).toBe(6);
    expect(lines.some((l) => l.includes('resumed from') && l.includes('step 4'))).toBe(true);
    expect(await finalDigests(runDir)).toEqual(reference);
    // The metrics of the redone step 5 appear once.
    const steps = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('after a graceful stop (abort signal) at step 3 it resumes there and ends bit-identical', async () => {
    const runDir = join(dir, 'abort');
    const controller = new AbortController();
    const stopped = await trainDiT({ config: base, runDir, signal: controller.signal, onProgress: (p) => (p.step === 3 ? controller.abort() : undefined) });
    expect(stopped).toMatchObject({ step: 3, stopped: 'aborted' });
    expect((await listCheckpoints(join(runDir, 'checkpoints'))).map((c) => c.step)).toEqual([2, 3]);
    await trainDiT({ config: base, runDir, resume: true });
    expect(await finalDigests(runDir)).toEqual(reference);
  });

  it('refuses to overwrite a run, and to resume nothing', async () => {
    await expect(trainDiT({ config: base, runDir: join(dir, 'straight') })).rejects.toThrow(/already holds checkpoints/);
    await expect(trainDiT({ config: base, runDir: join(dir, 'empty'), resume: true })).rejects.toThrow(/nothing to resume/);
  });
});

/** Fashion-MNIST latents, except that batch `poisonAt` (1-based) holds a NaN. */
class PoisonedSource implements LatentSource {
  constructor(
    readonly inner: LatentSource,
    readonly poisonAt: number,
  ) {}
  get channels() {
    return this.inner.channels;
  }
  get classes() {
    return this.inner.classes;
  }
  samplesPerEpoch(o: StreamOptions) {
    return this.inner.samplesPerEpoch(o);
  }
  stats() {
    return this.inner.stats(64);
  }
  async *batches(from: DataPosition, o: StreamOptions): AsyncGenerator<TokenBatch> {
    let n = 0;
    for await (const b of this.inner.batches(from, o)) {
      if (++n === this.poisonAt) b.tokens[7] = NaN;
      yield b;
    }
  }
  async close() {}
}

describe('trainDiT faults', () => {
  it('stops on a NaN loss before updating, naming the last good checkpoint, which stays intact', async () => {
    const runDir = join(dir, 'nan');
    const source = new PoisonedSource(await FashionMnistSource.open(undefined, { limit: 64, channels: 8 }), 3);
    const before = tf.memory().numTensors;
    const run = trainDiT({ config: base, runDir, source });
    await expect(run).rejects.toThrow(NonFiniteLossError);
    await expect(trainDiT({ config: base, runDir: join(dir, 'nan2'), source: new PoisonedSource(source.inner, 3) })).rejects.toThrow(
      /training diverged at step 3: loss = NaN.*the last good checkpoint is .*0000002/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const ckpts = await listCheckpoints(join(runDir, 'checkpoints'));
    expect(ckpts.map((c) => c.step)).toEqual([2]);
    await verifyCheckpoint(ckpts[0].path, { checksums: true });
    expect(await readFile(join(runDir, 'log.txt'), 'utf8')).toMatch(/training diverged at step 3/);
  });

  it('an exploding learning rate stops the run with a clear error; the resumed-from checkpoint stays the latest', async () => {
    const runDir = join(dir, 'explode');
    await trainDiT({ config: { ...base, train: { ...base.train, maxSteps: 2 } }, runDir });
    const exploding: DiTTrainConfig = { ...base, clipGradNorm: null, optim: { ...base.optim, lr: 1e30 }, train: { ...base.train, maxSteps: 40 } };
    const error = await trainDiT({ config: exploding, runDir, resume: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect((error as Error).message).toMatch(/training diverged at step \d+: loss = (NaN|-?Infinity|[\d.e+-]+), gradient norm = .*the last good checkpoint is .*0000002/);
    expect((await findLatestCheckpoint(join(runDir, 'checkpoints')))!.step).toBe(2);
  });
});
