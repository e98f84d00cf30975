import { ChannelStatsAccumulator } from '@svg/data-imagenet';
import { listImageFiles, writeStatsFile } from '@svg/data-imagenet/node';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption } from '../command';
import { requireOutputExtension } from '../files';
import { encoderImageSize, readImages } from '../images';
import { autoencoderHelp, autoencoderOptions, loadAutoencoderOption } from '../models';
import { ProgressBar } from '../progress';

export const statsCommand = defineCommand({
  name: 'stats',
  summary: 'per-channel latent mean/std over the images of a folder, at any depth (the official dinov3_sp_stats layout)',
  usage: 'svg stats <image-folder> --autoencoder <ckpt> [--config <yaml>] [--dinov3 <weights>] --out stats.safetensors',
  examples: ['svg stats imagenet/train --autoencoder svg-autoencoder.safetensors --limit 10000 --out stats.safetensors'],
  options: { ...autoencoderOptions, out: { type: 'string', default: 'stats.safetensors' }, batch: { type: 'string', default: '8' }, limit: { type: 'string' }, ...backendOption },
  optionHelp: {
    ...autoencoderHelp,
    out: 'output safetensors (dinov3_sp_mean, dinov3_sp_std: float32 [1, 1, C])',
    batch: 'images per encoder call (default 8)',
    limit: 'use at most this many images (spread evenly over the folder)',
    ...backendHelp,
  },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new CliError('expected one image folder (see: svg stats --help)');
    const batch = intOption(values, 'batch', 1, 1024)!;
    const limit = intOption(values, 'limit', 1);
    requireOutputExtension(values.out as string, '.safetensors', 'out', 'the statistics are written as safetensors');
    // Statistics need no labels: every image under the folder counts, class folders or not.
    let files: string[];
    try {
      files = await listImageFiles(positionals[0]);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    if (limit !== undefined && limit < files.length) {
      const step = files.length / limit;
      const all = files;
      files = Array.from({ length: limit }, (_, i) => all[Math.floor(i * step)]);
    }
    await startBackend(values.backend);
    const ae = await loadAutoencoderOption(values, 'stats');
    const size = encoderImageSize(ae);
    let acc: ChannelStatsAccumulator | undefined;
    let used = 0;
    const skipped: { path: string; error: string }[] = [];
    const bar = new ProgressBar('encoding', files.length, 'img');
    for (let start = 0; start < files.length; start += batch) {
      const paths = files.slice(start, start + batch);
      // A bad file among thousands must not cost the run: it is skipped, counted and named at the end.
      const read = await readImages(paths, size, { skipUnreadable: true });
      skipped.push(...read.skipped);
      const n = read.crops.length;
      if (n > 0) {
        const latents = ae.encode(read.batch);
        acc ??= new ChannelStatsAccumulator(latents.shape.slice(1), 2);
        acc.add((await latents.data()) as Float32Array, n);
        latents.dispose();
        used += n;
      }
      read.batch.dispose();
      bar.update(start + paths.length);
    }
    for (const s of skipped.slice(0, 10)) console.error(`skipped ${s.path}: ${s.error}`);
    if (skipped.length > 10) console.error(`… and ${skipped.length - 10} more unreadable files`);
    if (!acc) throw new CliError(`${positionals[0]}: none of the ${files.length} images could be read`);
    const stats = acc.result();
    await writeStatsFile(values.out as string, stats, { images: String(used), source: positionals[0] });
    console.log(`wrote ${values.out}: mean/std of ${stats.mean.length} channels over ${used} images${skipped.length ? ` (${skipped.length} unreadable skipped)` : ''}`);
  },
});
