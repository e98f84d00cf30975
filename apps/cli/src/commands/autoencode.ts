import { mkdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadSvgAutoencoder } from '@svg/autoencoder';
import { scanImageFolder } from '@svg/data-imagenet/node';
import { readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from '@svg/weights/node';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption, requireString } from '../command';
import { requireFile, requireFolderName, requireOutputExtension } from '../files';
import { encoderImageSize, pngBytes, psnr, readImages, toRgb8 } from '../images';
import { autoencoderHelp, autoencoderOptions, loadAutoencoderOption, readModelManifest, timedLoad } from '../models';
import { ProgressBar } from '../progress';

export const encodeCommand = defineCommand({
  name: 'encode',
  summary: 'encode images to SVG latents [B, H/16, W/16, 392] (safetensors)',
  usage: 'svg encode <images...> --autoencoder <ckpt> [--config <yaml>] [--dinov3 <weights>] --out latents.safetensors',
  examples: ['svg encode cat.jpg dog.png --autoencoder svg-autoencoder.safetensors --out latents.safetensors'],
  options: { ...autoencoderOptions, out: { type: 'string', default: 'latents.safetensors' }, ...backendOption },
  optionHelp: { ...autoencoderHelp, out: 'output safetensors (tensor "latents", NHWC; metadata lists the images)', ...backendHelp },
  async run({ values, positionals }) {
    if (positionals.length === 0) throw new CliError('no images given (see: svg encode --help)');
    requireOutputExtension(values.out as string, '.safetensors', 'out', 'latents are written as safetensors');
    await startBackend(values.backend);
    const ae = await loadAutoencoderOption(values, 'encode');
    const { batch } = await readImages(positionals, encoderImageSize(ae));
    const latents = ae.encode(batch);
    batch.dispose();
    const data = (await latents.data()) as Float32Array;
    const shape = latents.shape;
    latents.dispose();
    const out = values.out as string;
    await writeSafetensorsFile(out, { latents: { dtype: 'F32', shape, data } }, { layout: 'NHWC', images: JSON.stringify(positionals.map((p) => basename(p))) });
    console.log(`wrote ${out}: latents [${shape.join(', ')}]`);
  },
});

export const decodeCommand = defineCommand({
  name: 'decode',
  summary: 'decode SVG latents (safetensors from svg encode) to PNG images',
  usage: 'svg decode <latents.safetensors> --autoencoder <ckpt> [--config <yaml>] --out <dir>',
  examples: ['svg decode latents.safetensors --autoencoder svg-autoencoder.safetensors --out decoded/'],
  options: { ...autoencoderOptions, out: { type: 'string' }, key: { type: 'string', default: 'latents' }, ...backendOption },
  optionHelp: { ...autoencoderHelp, out: 'output folder', key: 'tensor name in the file (default latents)', ...backendHelp },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new CliError('expected one latents file (see: svg decode --help)');
    const outDir = requireFolderName(requireString(values, 'out', 'decode'), 'out');
    const input = requireFile(positionals[0], 'latents file');
    const { tensors } = await readSafetensorsFile(input).catch((e: Error) => {
      throw new CliError(e.message);
    });
    const raw = tensors.get(values.key as string);
    if (!raw) throw new CliError(`${input}: no tensor "${values.key}" (has: ${[...tensors.keys()].join(', ')})`);
    if (raw.shape.length !== 4) throw new CliError(`${input}: latents must be [B, h, w, C] (NHWC), got [${raw.shape.join(', ')}]`);
    await startBackend(values.backend);
    const ae = await loadAutoencoderOption(values, 'decode', true);
    const z = ae.config.ddconfig.z_channels;
    if (raw.shape[3] !== z) throw new CliError(`${input}: latents have ${raw.shape[3]} channels, the decoder expects ${z}`);
    const latents = tf.tensor4d(raw.data as Float32Array, raw.shape as [number, number, number, number]);
    const images = ae.decode(latents);
    latents.dispose();
    const rgb = await toRgb8(images);
    images.dispose();
    await mkdir(outDir, { recursive: true });
    for (const [i, im] of rgb.entries()) await writeFileAtomic(join(outDir, `${String(i).padStart(3, '0')}.png`), await pngBytes(im, { software: 'svg-ts' }));
    console.log(`wrote ${rgb.length} images to ${outDir}`);
  },
});

export const reconstructCommand = defineCommand({
  name: 'reconstruct',
  summary: 'encode and decode images (files or whole image folders), print PSNR, optionally write the reconstructions',
  usage: 'svg reconstruct <images or folders...> --autoencoder <ckpt> [--config <yaml>] [--dinov3 <weights>] [--out <dir>] [--limit N]',
  examples: [
    'svg reconstruct photos/*.jpg --autoencoder svg-autoencoder.safetensors --out recon/',
    'svg reconstruct runs/fashion-mnist/images/test --model packages/model-fashion-mnist    # mean PSNR over the test set',
  ],
  options: { ...autoencoderOptions, model: { type: 'string' }, out: { type: 'string' }, limit: { type: 'string' }, batch: { type: 'string', default: '32' }, ...backendOption },
  optionHelp: {
    ...autoencoderHelp,
    model: 'use the autoencoder of a model folder (svg-model.json) instead of --autoencoder/--config',
    out: 'output folder for the reconstructions (default: none written)',
    limit: 'at most this many images',
    batch: 'images per encoder call (default 32; match_distribution uses the statistics of each call)',
    ...backendHelp,
  },
  async run({ values, positionals }) {
    if (positionals.length === 0) throw new CliError('no images given (see: svg reconstruct --help)');
    const outDir = values.out as string | undefined;
    if (outDir) requireFolderName(outDir, 'out');
    const batchSize = intOption(values, 'batch', 1, 1024)!;
    const paths: string[] = [];
    for (const p of positionals) {
      if ((await stat(p).catch(() => null))?.isDirectory()) paths.push(...(await scanImageFolder(p)).samples.map((s) => s.path));
      else paths.push(p);
    }
    const limit = intOption(values, 'limit', 1) ?? paths.length;
    const chosen = paths.slice(0, limit);
    await startBackend(values.backend);
    const ae = values.model ? await modelAutoencoder(values.model as string) : await loadAutoencoderOption(values, 'reconstruct');
    const size = encoderImageSize(ae);
    if (outDir) await mkdir(outDir, { recursive: true });
    const verbose = chosen.length <= 20;
    const bar = verbose ? null : new ProgressBar('reconstructing', chosen.length, 'img');
    let sum = 0;
    for (let start = 0; start < chosen.length; start += batchSize) {
      const group = chosen.slice(start, start + batchSize);
      const { batch, crops } = await readImages(group, size);
      const recon = ae.reconstruct(batch, { clamp: true });
      batch.dispose();
      const rgb = await toRgb8(recon);
      recon.dispose();
      for (const [i, im] of rgb.entries()) {
        if (im.width !== crops[i].width) throw new CliError(`the decoder makes ${im.width}×${im.height} images from ${crops[i].width}×${crops[i].height} inputs: no PSNR`);
        const value = psnr(crops[i].data, im.pixels);
        sum += value;
        const name = outDir ? join(outDir, `${basename(group[i], extname(group[i]))}.png`) : null;
        if (name) await writeFileAtomic(name, await pngBytes(im, { software: 'svg-ts', psnr: value.toFixed(2) }));
        if (verbose) console.log(`${group[i]}: PSNR ${value.toFixed(2)} dB${name ? ` → ${name}` : ''}`);
      }
      bar?.update(start + group.length);
    }
    console.log(`mean PSNR ${(sum / chosen.length).toFixed(2)} dB over ${chosen.length} images`);
  },
});

/** The full autoencoder (encoder included) of a model folder. */
async function modelAutoencoder(dir: string) {
  const manifest = await readModelManifest(dir);
  const path = requireFile(join(dir, manifest.autoencoder), 'autoencoder');
  const config = requireFile(join(dir, manifest.autoencoderConfig), 'config');
  return timedLoad('autoencoder', path, () => loadSvgAutoencoder(path, { config }));
}
