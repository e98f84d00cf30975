import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LdmDecoder } from '@svg/autoencoder';
import { createDiT } from '@svg/dit';
import { denormalizeLatent, loadLatentStats, seededNormal } from '@svg/flow';
import { SeededRandom, initBackend, setInitSeed } from '@svg/nn';
import { GeneratorMismatchError, checkGeneratorParts, decodeLatents, generateImages, generationSettings, imageGrid } from './index';

const decoderConfig = { z_channels: 392, resolution: 32, out_ch: 3, ch: 32, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [], dropout: 0 };

function tinyModels() {
  setInitSeed(5);
  const dit = createDiT({ hiddenSize: 32, depth: 1, numHeads: 2, numClasses: 10 });
  const ldm = new LdmDecoder(decoderConfig);
  return { dit, decoder: { decode: (z: tf.Tensor4D) => ldm.forward(z) } };
}

/** Gives the zero-initialised final layer random weights so the velocity is not zero. */
function perturbFinalLayer(dit: ReturnType<typeof createDiT>) {
  const rng = new SeededRandom(11);
  for (const p of [dit.finalLayer.linear.weight, dit.finalLayer.adaLN.weight]) p.set(tf.tensor(rng.normalArray(p.shape.reduce((a, b) => a * b), 0, 0.2), p.shape));
}

describe('generateImages', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('with zero velocity (fresh upstream init) returns decode(denormalise(noise)) as 8-bit RGB', async () => {
    const { dit, decoder } = tinyModels();
    const stats = loadLatentStats();
    const images = await generateImages({ dit, decoder, stats, classes: [3, 7], seed: 40, steps: 3 });
    expect(images.map((im) => [im.classIndex, im.seed, im.width, im.height])).toEqual([[3, 40, 32, 32], [7, 41, 32, 32]]);
    const expected = tf.tidy(() => {
      const noise = tf.concat([seededNormal([1, 256, 392], 40), seededNormal([1, 256, 392], 41)]);
      const latent = tf.reshape(denormalizeLatent(noise, stats), [2, 16, 16, 392]) as tf.Tensor4D;
      return tf.round(tf.mul(tf.add(tf.clipByValue(decoder.decode(latent), -1, 1), 1), 127.5));
    });
    const ref = await expected.data();
    expected.dispose();
    const got = new Float32Array([...images[0].pixels, ...images[1].pixels]);
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
    expect(maxDiff).toBeLessThanOrEqual(1);
    expect(new Set(images[0].pixels).size).toBeGreaterThan(16);
  });

  it('reports the decode stage by stage when the decoder can, with the same pixels', async () => {
    const { dit } = tinyModels();
    const ldm = new LdmDecoder(decoderConfig);
    const staged = { decode: (z: tf.Tensor4D) => ldm.forward(z), decodeWithProgress: (z: tf.Tensor4D, p: (d: number, t: number) => void) => ldm.forwardInStages(z, p) };
    const stats = loadLatentStats();
    const plain = await generateImages({ dit, decoder: staged, stats, classes: [4], seed: 2, steps: 2 });
    const before = tf.memory().numTensors;
    const reports: number[][] = [];
    const withProgress = await generateImages({ dit, decoder: staged, stats, classes: [4], seed: 2, steps: 2, onDecode: (done, total) => void reports.push([done, total]) });
    expect(reports).toEqual([[1, 4], [2, 4], [3, 4], [4, 4]]); // conv_in + mid, 2 up levels, norm_out + conv_out
    expect(Buffer.compare(Buffer.from(withProgress[0].pixels), Buffer.from(plain[0].pixels))).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const once: number[][] = [];
    await generateImages({ dit, decoder: { decode: staged.decode }, stats, classes: [4], seed: 2, steps: 2, onDecode: (d, t) => void once.push([d, t]) });
    expect(once).toEqual([[1, 1]]); // a decoder without stages reports once, at the end
  });

  it('is reproducible per image: image i of a batch equals the same seed generated alone', async () => {
    const { dit, decoder } = tinyModels();
    perturbFinalLayer(dit);
    const stats = loadLatentStats();
    const batch = await generateImages({ dit, decoder, stats, classes: [1, 2], seed: 7, steps: 4, cfg: 3 });
    const alone = await generateImages({ dit, decoder, stats, classes: [2], seed: 8, steps: 4, cfg: 3 });
    let maxDiff = 0;
    batch[1].pixels.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - alone[0].pixels[i]))));
    expect(maxDiff).toBeLessThanOrEqual(1);
    const otherClass = await generateImages({ dit, decoder, stats, classes: [5], seed: 8, steps: 4, cfg: 3 });
    expect(Buffer.compare(Buffer.from(otherClass[0].pixels), Buffer.from(alone[0].pixels))).not.toBe(0);
  });

  it("passes each step's clean-latent estimate x1(): decoded after the last step it is the final image", async () => {
    const { dit, decoder } = tinyModels();
    perturbFinalLayer(dit);
    const stats = loadLatentStats();
    const previews: Uint8Array[] = [];
    const [image] = await generateImages({
      dit, decoder, stats, classes: [4], seed: 3, steps: 3,
      onStep: async ({ x1 }) => {
        const estimate = x1();
        previews.push((await decodeLatents(estimate, decoder, stats))[0].pixels);
        estimate.dispose();
      },
    });
    expect(previews).toHaveLength(3);
    expect(Buffer.compare(Buffer.from(previews[2]), Buffer.from(image.pixels))).toBe(0);
    expect(Buffer.compare(Buffer.from(previews[0]), Buffer.from(image.pixels))).not.toBe(0);
    const flat = tf.zeros([1, 15, 392]);
    await expect(decodeLatents(flat, decoder, null)).rejects.toThrow(/\[B, T, C\] with T a square, got \[1, 15, 392\]/);
    flat.dispose();
  });

  it('reports every step, leaves no tensors behind, and rejects bad classes', async () => {
    const { dit, decoder } = tinyModels();
    const steps: number[] = [];
    await generateImages({ dit, decoder, stats: null, classes: [0], steps: 2 });
    const before = tf.memory().numTensors;
    await generateImages({ dit, decoder, stats: null, classes: [0], steps: 3, onStep: ({ step }) => void steps.push(step) });
    expect(tf.memory().numTensors).toBe(before);
    expect(steps.length).toBe(3);
    await expect(generateImages({ dit, decoder, stats: null, classes: [10] })).rejects.toThrow(/class index 10 is outside 0..9/);
  });

  it('refuses parts that do not belong together before the first step', async () => {
    const { dit, decoder } = tinyModels();
    const steps: number[] = [];
    const onStep = ({ step }: { step: number }) => void steps.push(step);
    const narrowDecoder = { ...decoder, latentChannels: 8 };
    await expect(generateImages({ dit, decoder: narrowDecoder, stats: null, classes: [0], steps: 2, onStep })).rejects.toThrow(
      /the DiT makes 392-channel latents but the decoder takes 8 channels/,
    );
    const stats = { mean: new Float32Array(8), std: new Float32Array(8).fill(1) };
    await expect(generateImages({ dit, decoder, stats, classes: [0], steps: 2, onStep })).rejects.toThrow(/latent statistics have 8 channels but the DiT makes 392-channel latents/);
    expect(steps).toEqual([]);
    expect(() => checkGeneratorParts({ dit, decoder: 392, stats: loadLatentStats(), classNames: ['a', 'b'] })).toThrow(GeneratorMismatchError);
    expect(() => checkGeneratorParts({ dit, decoder: 392, stats: loadLatentStats(), classNames: Array.from({ length: 10 }, String) })).not.toThrow();
  });

  it('can be cancelled', async () => {
    const { dit, decoder } = tinyModels();
    const controller = new AbortController();
    const run = generateImages({ dit, decoder, stats: null, classes: [0], steps: 5, signal: controller.signal, onStep: () => controller.abort(new Error('stop')) });
    await expect(run).rejects.toThrow('stop');
  });
});

describe('imageGrid and settings', () => {
  it('lays images out 4 per row with padding', () => {
    const im = (v: number) => ({ classIndex: 0, seed: 0, width: 2, height: 1, pixels: new Uint8Array(6).fill(v) });
    const grid = imageGrid([im(10), im(20), im(30), im(40), im(50)], { padding: 1 });
    expect([grid.width, grid.height]).toEqual([4 * 3 + 1, 2 * 2 + 1]);
    const px = (x: number, y: number) => grid.pixels[(y * grid.width + x) * 3];
    expect([px(0, 0), px(1, 1), px(2, 1), px(3, 1), px(4, 1), px(1, 3), px(4, 3)]).toEqual([0, 10, 10, 0, 20, 50, 0]);
  });

  it('enlarges images by an integer scale, nearest neighbour', () => {
    const im = { classIndex: 0, seed: 0, width: 2, height: 1, pixels: Uint8Array.from([1, 1, 1, 2, 2, 2]) };
    const grid = imageGrid([im], { padding: 0, scale: 3 });
    expect([grid.width, grid.height]).toEqual([6, 3]);
    expect(Array.from({ length: 6 }, (_, x) => grid.pixels[(2 * 6 + x) * 3])).toEqual([1, 1, 1, 2, 2, 2]);
    expect(() => imageGrid([im], { scale: 0.5 })).toThrow(/scale must be a positive integer/);
  });

  it('names the sampler settings with official defaults', () => {
    expect(generationSettings({ classes: [1] } as never)).toEqual({ steps: '25', cfg: '4', sampler: 'euler', shift: '0.15', 'cfg-mode': 'constant' });
  });
});
