import * as tf from '@tensorflow/tfjs-core';
import { openImageDataset, writeLatentCache } from '@svg/data-imagenet/node';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption } from '../command';
import { encoderImageSize } from '../images';
import { autoencoderHelp, autoencoderOptions, loadAutoencoderOption } from '../models';
import { ProgressBar } from '../progress';

export const cacheCommand = defineCommand({
  name: 'cache',
  summary: 'encode an image folder once into a latent cache for DiT training (train.dataset: latent-cache); resumable',
  usage: 'svg cache <image-folder> --autoencoder <ckpt> [--config <yaml>] --out <dir> [--no-flips] [--batch 32]',
  examples: ['svg cache data/fashion-mnist/train --autoencoder ae.safetensors --config configs/fashion-mnist/autoencoder.yaml --out runs/fashion-mnist/latents'],
  options: { ...autoencoderOptions, out: { type: 'string' }, 'no-flips': { type: 'boolean' }, batch: { type: 'string', default: '32' }, ...backendOption },
  optionHelp: {
    ...autoencoderHelp,
    out: 'cache folder (shards already complete there are kept: an interrupted run continues)',
    'no-flips': 'do not also encode every image mirrored (upstream trains with random horizontal flips)',
    batch: 'images per encoder call (default 32; match_distribution uses the statistics of each call)',
    ...backendHelp,
  },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new CliError('expected one image folder (see: svg cache --help)');
    if (typeof values.out !== 'string') throw new CliError('missing --out (see: svg cache --help)');
    const batchSize = intOption(values, 'batch', 1, 1024)!;
    let dataset;
    try {
      dataset = await openImageDataset(positionals[0]);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    await startBackend(values.backend);
    const ae = await loadAutoencoderOption(values, 'cache');
    ae.eval();
    const size = encoderImageSize(ae);
    const grid = size / ae.patchSize;
    const latentShape = [grid, grid, ae.latentChannels];
    const bar = new ProgressBar('encoding', dataset.samples.length, 'img');
    const index = await writeLatentCache({
      dataset,
      dir: values.out,
      latentShape,
      imageSize: size,
      layout: 'nhwc',
      batchSize,
      flips: !values['no-flips'],
      encode: async (images, shape) => {
        const latent = tf.tidy(() => {
          const enc = ae.encodeDetailed(tf.tensor4d(images, [...shape]));
          tf.dispose([enc.patchTokens, enc.hVit, enc.hVitMatched].filter((t): t is tf.Tensor3D => t !== null));
          return enc.latent;
        });
        const data = (await latent.data()) as Float32Array;
        latent.dispose();
        return data;
      },
      onProgress: ({ done }) => bar.update(done),
    });
    ae.dispose();
    console.log(`wrote ${values.out}: ${index.count} latents [${latentShape.join(', ')}]${index.flips ? ' (+ mirrored)' : ''}, ${index.classes.length} classes, ${index.skipped.length} skipped`);
  },
});
