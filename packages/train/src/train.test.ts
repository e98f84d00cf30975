import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { type DiTTrainConfig, type TrainProgress, NonFiniteLossError, loadTrainConfig, trainAutoencoder, trainDiT } from './index';

const configs = fileURLToPath(new URL('../../../configs/', import.meta.url));
const ditConfig = join(configs, 'tiny-dit-fashion-mnist.yaml');
const aeConfig = join(configs, 'tiny-autoencoder-fashion-mnist.yaml');
const work = mkdtempSync(join(tmpdir(), 'svg-train-'));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('trainDiT', () => {
  it('learns Fashion-MNIST latents: the loss falls well below its start; logs, curve and checkpoints are written', async () => {
    const losses: number[] = [];
    const runDir = join(work, 'learn');
    const result = await trainDiT({ config: ditConfig, runDir, backend: 'wasm', maxSteps: 150, onProgress: (p) => void losses.push(p.loss) });
    expect(result).toMatchObject({ step: 150, stopped: 'max-steps' });
    const first = mean(losses.slice(0, 10));
    const last = mean(losses.slice(-10));
    console.log(`DiT loss: first 10 steps ${first.toFixed(3)}, last 10 steps ${last.toFixed(3)}`);
    expect(last).toBeLessThan(0.6 * first);
    const metrics = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.step)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150]);
    const curve = await sharp(join(runDir, 'loss.png')).metadata();
    expect(curve.format).toBe('png');
    // keep_checkpoints: 2 → only the newest two remain (ckpt_every 100, plus the final one).
    expect(readdirSync(join(runDir, 'checkpoints')).sort()).toEqual(['0000100', '0000150']);
  });

  it('resumes exactly: 10 steps, stop, resume to 20 equals 20 uninterrupted steps bit for bit (cpu)', async () => {
    const straight = join(work, 'straight');
    const split = join(work, 'split');
    await trainDiT({ config: ditConfig, runDir: straight, backend: 'cpu', maxSteps: 20 });
    await trainDiT({ config: ditConfig, runDir: split, backend: 'cpu', maxSteps: 10 });
    await expect(trainDiT({ config: ditConfig, runDir: split, backend: 'cpu', maxSteps: 20 })).rejects.toThrow(/resume/);
    const resumed = await trainDiT({ config: ditConfig, runDir: split, backend: 'cpu', maxSteps: 20, resume: true });
    expect(resumed.step).toBe(20);
    for (const file of ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
      const a = readFileSync(join(straight, 'checkpoints', '0000020', file));
      const b = readFileSync(join(split, 'checkpoints', '0000020', file));
      expect(Buffer.compare(a, b), file).toBe(0);
    }
  });

  it('stops on a non-finite loss with a clear error, leaving the last good checkpoint as the latest', async () => {
    const config = (await loadTrainConfig(ditConfig)) as DiTTrainConfig;
    const runDir = join(work, 'nan');
    await trainDiT({ config, runDir, backend: 'wasm', maxSteps: 3 });
    const exploding: DiTTrainConfig = { ...config, clipGradNorm: null, optim: { ...config.optim, lr: 1e30 } };
    const error = await trainDiT({ config: exploding, runDir, backend: 'wasm', maxSteps: 50, resume: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect((error as Error).message).toMatch(/NaN|Inf|finite/i);
    expect(readdirSync(join(runDir, 'checkpoints'))).toEqual(['0000003']);
  });
});

describe('trainAutoencoder', () => {
  it('learns to reconstruct Fashion-MNIST: the reconstruction loss falls', async () => {
    const rec: number[] = [];
    const result = await trainAutoencoder({
      config: aeConfig, runDir: join(work, 'ae'), backend: 'wasm', maxSteps: 24,
      onProgress: (p: TrainProgress) => void rec.push(p.extra.rec_loss),
    });
    expect(result.step).toBe(24);
    const first = mean(rec.slice(0, 4));
    const last = mean(rec.slice(-4));
    console.log(`autoencoder rec_loss: first 4 steps ${first.toFixed(4)}, last 4 steps ${last.toFixed(4)}`);
    expect(last).toBeLessThan(0.7 * first);
  });
});
