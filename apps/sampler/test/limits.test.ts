import { describe, expect, it } from 'vitest';
import { SVG_AUTOENCODER_CONFIG, createSvgAutoencoder } from '@svg/autoencoder';
import { DiT } from '@svg/dit';
import { GpuLimitError } from '../src/backend';
import { checkRunFits } from '../src/generate';

const MiB = 2 ** 20;

describe('GPU buffer limits', () => {
  // Parameters are created lazily: building the full-size models allocates no weights.
  const models = { dit: new DiT('XL'), autoencoder: createSvgAutoencoder(SVG_AUTOENCODER_CONFIG, { decoderOnly: true }) };

  it('lets the official XL model and decoder run on a GPU with the WebGPU default limit (128 MiB)', () => {
    expect(() => checkRunFits(models, 8, 128 * MiB)).not.toThrow();
  });

  it('refuses with a message naming the buffer, its size and the limit when the GPU is too small', () => {
    expect(() => checkRunFits(models, 8, 32 * MiB)).toThrow(GpuLimitError);
    expect(() => checkRunFits(models, 8, 32 * MiB)).toThrow(/DiT MLP for 8 image\(s\) needs a 36\.0 MB GPU buffer, but this GPU allows at most 32\.0 MB/);
    expect(() => checkRunFits(models, 1, 16 * MiB)).toThrow(/the decoder \(one image\) needs a 32\.0 MB GPU buffer, but this GPU allows at most 16\.0 MB.*smaller model, or the wasm backend/);
  });
});
