// tfjs-core before @svg/nn: the other order breaks gradients under vitest (see the package README, "Known issues").
import '@tensorflow/tfjs-core';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@svg/nn';
import { loadDiT } from '@svg/dit';
import { readPngText } from '@svg/data-imagenet';
import { createSvgAutoencoder, parseSvgAutoencoderConfig } from '@svg/autoencoder';
import { findLatestCheckpoint, readCheckpointTensors } from './checkpoint';
import { type AutoencoderTrainConfig, type DiTTrainConfig, loadTrainConfig } from './config';
import { trainAutoencoder } from './train-autoencoder';
import { trainDiT } from './train-dit';

// Proof that training learns, on real data (Fashion-MNIST), with our CPU presets. The wasm backend is ~10× faster
// than cpu for these models; the bitwise resume tests run on cpu (train-dit.test.ts).
const CONFIGS = join(__dirname, '../../../configs');
let dir: string;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'svg-learning-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const metricLines = async (runDir: string) =>
  (await readFile(join(runDir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);

describe('learning', () => {
  it('a tiny DiT on Fashion-MNIST latents: the rectified-flow loss falls well below its start', async () => {
    const c = (await loadTrainConfig(join(CONFIGS, 'tiny-dit-fashion-mnist.yaml'))) as DiTTrainConfig;
    const runDir = join(dir, 'dit');
    const config: DiTTrainConfig = { ...c, ckptEvery: 100, train: { ...c.train, maxSteps: 150, sampleEvery: 150, sampleCount: 8, sampleSteps: 10, keepCheckpoints: 2 } };
    const result = await trainDiT({ config, runDir });
    const m = await metricLines(runDir);
    const first = m[0].loss;
    const last = m[m.length - 1].loss;
    console.log(`DiT loss: first 10 steps ${first.toFixed(4)}, last 10 steps ${last.toFixed(4)} (step 1: ${result.firstLoss!.toFixed(4)})`);
    expect(m.length).toBe(15);
    expect(first).toBeGreaterThan(1.5); // zero-initialised output: loss ≈ E|x − z0|² ≈ 2 for normalised data
    expect(last).toBeLessThan(0.55 * first);
    // Artefacts: loss curve, EMA sample grid, a checkpoint whose weights load as a DiT.
    expect(readPngText(await readFile(join(runDir, 'loss.png'))).Title).toMatch(/rectified-flow loss/);
    expect(readPngText(await readFile(join(runDir, 'samples', 'step-0000150.png'))).Classes).toBe('0,1,2,3,4,5,6,7');
    expect((await readdir(join(runDir, 'checkpoints'))).sort()).toEqual(['0000100', '0000150']); // keep_checkpoints: 2
    const latest = await findLatestCheckpoint(join(runDir, 'checkpoints'));
    expect(latest!.step).toBe(150);
    const ema = loadDiT(await readCheckpointTensors(latest!.path, 'ema.safetensors'), config.model);
    expect(ema.config.hiddenSize).toBe(32);
    ema.dispose();
  });

  it('a tiny autoencoder on Fashion-MNIST: the reconstruction loss falls well below its start, then the GAN starts', async () => {
    const c = (await loadTrainConfig(join(CONFIGS, 'tiny-autoencoder-fashion-mnist.yaml'))) as AutoencoderTrainConfig;
    const runDir = join(dir, 'ae');
    const params = c.modelParams as { lossconfig: { params: Record<string, unknown> } };
    // disc_start 41 in Lightning's doubled steps: the discriminator trains from batch 20, the generator's GAN term from 21.
    const modelParams = { ...params, lossconfig: { ...params.lossconfig, params: { ...params.lossconfig.params, disc_start: 41 } } };
    const config: AutoencoderTrainConfig = { ...c, modelParams, ckptEvery: 60, train: { ...c.train, maxSteps: 60, sampleEvery: 60 } };
    let start = 0;
    await trainAutoencoder({ config, runDir, onProgress: (p) => void (p.step === 1 ? (start = p.extra.rec_loss) : undefined) });
    const m = await metricLines(runDir);
    const last = m[m.length - 1].rec_loss;
    console.log(`autoencoder rec_loss (mean L1): step 1 ${start.toFixed(4)}, first 10 steps ${m[0].rec_loss.toFixed(4)}, last 10 steps ${last.toFixed(4)}`);
    expect(start).toBeGreaterThan(0.5);
    expect(last).toBeLessThan(0.4 * start);
    expect(last).toBeLessThan(m[0].rec_loss);
    expect(m[0].disc_loss).toBe(0);
    expect(m[0].disc_factor).toBe(0);
    expect(m[m.length - 1].disc_factor).toBe(1);
    expect(m[m.length - 1].disc_loss).toBeGreaterThan(0);
    expect(readPngText(await readFile(join(runDir, 'samples', 'step-0000060.png'))).Title).toMatch(/reconstructions/);
    // The checkpoint's model file is a DinoDecoder state dict that the autoencoder package loads strictly.
    const latest = await findLatestCheckpoint(join(runDir, 'checkpoints'));
    const ae = createSvgAutoencoder(parseSvgAutoencoderConfig(config.modelParams));
    ae.loadStateDict(await readCheckpointTensors(latest!.path, 'model.safetensors'), { strict: true });
    ae.dispose();
  });

  it('the autoencoder resumes bit for bit (wasm): 2 steps, crash, resume to 4 equals 4 straight steps', async () => {
    const c = (await loadTrainConfig(join(CONFIGS, 'tiny-autoencoder-fashion-mnist.yaml'))) as AutoencoderTrainConfig;
    const params = c.modelParams as { lossconfig: { params: Record<string, unknown> } };
    // disc_start 3: the discriminator and the GAN term are active from the second batch on, so both optimisers matter.
    const modelParams = { ...params, lossconfig: { ...params.lossconfig, params: { ...params.lossconfig.params, disc_start: 3 } } };
    const config: AutoencoderTrainConfig = { ...c, modelParams, batchSize: 4, logEvery: 1, ckptEvery: 2, train: { ...c.train, maxSteps: 4, sampleEvery: 0, limit: 32 } };
    const digests = async (runDir: string) => {
      const latest = await findLatestCheckpoint(join(runDir, 'checkpoints'));
      expect(latest!.step).toBe(4);
      return Object.fromEntries(Object.entries(latest!.state.files).map(([k, v]) => [k, v.sha256]));
    };
    await trainAutoencoder({ config, runDir: join(dir, 'ae-straight') });
    const crashed = trainAutoencoder({ config, runDir: join(dir, 'ae-crash'), onProgress: (p) => { if (p.step === 3) throw new Error('simulated crash'); } });
    await expect(crashed).rejects.toThrow('simulated crash');
    await trainAutoencoder({ config, runDir: join(dir, 'ae-crash'), resume: true });
    const reference = await digests(join(dir, 'ae-straight'));
    expect(Object.keys(reference).sort()).toEqual(['discriminator-optimizer.safetensors', 'discriminator.safetensors', 'model.safetensors', 'optimizer.safetensors']);
    expect(await digests(join(dir, 'ae-crash'))).toEqual(reference);
  });
});
