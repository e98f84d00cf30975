/**
 * Tiny test checkpoints with seeded random weights, written as the converted safetensors the page loads: a DiT,
 * an autoencoder state dict holding only `decoder.*` keys, and its YAML config. The decoder has two levels, so the
 * fixed 16×16 latent grid decodes to 32×32 images (small enough for WebGPU on SwiftShader).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LdmDecoder } from '@svg/autoencoder';
import { createDiT } from '@svg/dit';
import { SeededRandom, setInitSeed, stateDict } from '@svg/nn';
import { type RawTensor, writeSafetensors } from '@svg/weights';

export const TINY_DECODER = {
  z_channels: 392,
  resolution: 32,
  out_ch: 3,
  ch: 32,
  ch_mult: [1, 1],
  num_res_blocks: 1,
  attn_resolutions: [16],
  dropout: 0,
};

export const TINY_AE_CONFIG_YAML = `# tiny test autoencoder (decoder only is used)
model:
  params:
    embed_dim: 32
    ddconfig:
      double_z: true
      z_channels: ${TINY_DECODER.z_channels}
      resolution: ${TINY_DECODER.resolution}
      in_channels: 3
      out_ch: 3
      ch: ${TINY_DECODER.ch}
      ch_mult: [${TINY_DECODER.ch_mult.join(', ')}]
      num_res_blocks: ${TINY_DECODER.num_res_blocks}
      attn_resolutions: [${TINY_DECODER.attn_resolutions.join(', ')}]
      dropout: 0.0
    dinoconfig:
      model_name: dinov3_vits16plus
    extra_vit_config:
      output_dim: 8
      mask_ratio: 0.1
      use_outnorm: true
`;

export interface TinyCheckpoints {
  dit: string;
  autoencoder: string;
  config: string;
}

/**
 * Writes the tiny checkpoints into `dir`. Every DiT weight is redrawn from a seeded Gaussian (the upstream init
 * zeroes the adaLN and final layers, which would make the velocity exactly zero and test nothing).
 */
export async function writeTinyCheckpoints(dir: string): Promise<TinyCheckpoints> {
  setInitSeed(1234);
  const dit = createDiT({ hiddenSize: 32, depth: 2, numHeads: 2, mlpRatio: 2 });
  const rng = new SeededRandom(99);
  const ditSd = new Map<string, RawTensor>();
  for (const [name, raw] of await stateDict(dit)) {
    const [mean, std] = /norm\.weight$/.test(name) ? [1, 0.1] : raw.shape.length === 1 ? [0, 0.02] : name === 'pos_embed' ? [0, 0.1] : [0, 1 / Math.sqrt(raw.shape[1])];
    ditSd.set(name, { dtype: 'F32', shape: raw.shape, data: rng.normalArray(raw.data.length, mean, std) });
  }
  dit.dispose();
  const decoder = new LdmDecoder(TINY_DECODER);
  const aeSd = new Map<string, RawTensor>();
  for (const [name, raw] of await stateDict(decoder)) aeSd.set(`decoder.${name}`, raw);
  decoder.dispose();
  const files = { dit: join(dir, 'tiny-dit.safetensors'), autoencoder: join(dir, 'tiny-autoencoder.safetensors'), config: join(dir, 'tiny-autoencoder.yaml') };
  await writeFile(files.dit, writeSafetensors(ditSd, { format: 'pt', note: 'svg-ts sampler test: random weights' }));
  await writeFile(files.autoencoder, writeSafetensors(aeSd, { format: 'pt', note: 'svg-ts sampler test: random weights' }));
  await writeFile(files.config, TINY_AE_CONFIG_YAML);
  return files;
}
