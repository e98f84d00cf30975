import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile, writeSafetensorsFile } from '@svg/weights/node';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, requireString } from '../command';
import { requireFile } from '../files';
import { encoderImageSize, pngBytes, psnr, readImages, toRgb8 } from '../images';
import { autoencoderHelp, autoencoderOptions, loadAutoencoderOption } from '../models';

export const encodeCommand = defineCommand({
  name: 'encode',
  summary: 'encode images to SVG latents [B, H/16, W/16, 392] (safetensors)',
  usage: 'svg encode <images...> --autoencoder <ckpt> [--config <yaml>] [--dinov3 <weights>] --out latents.safetensors',
  examples: ['svg encode cat.jpg dog.png --autoencoder svg-autoencoder.safetensors --out latents.safetensors'],
  options: { ...autoencoderOptions, out: { type: 'string', default: 'latents.safetensors' }, ...backendOption },
  optionHelp: { ...autoencoderHelp, out: 'output safetensors (tensor "latents", NHWC; metadata lists the images)', ...backendHelp },
  async run({ values, positionals }) {
    if (positionals.length === 0) throw new CliError('no images given (see: svg encode --help)');
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
    const outDir = requireString(values, 'out', 'decode');
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
    for (const [i, im] of rgb.entries()) await writeFile(join(outDir, `${String(i).padStart(3, '0')}.png`), await pngBytes(im, { software: 'svg-ts' }));
    console.log(`wrote ${rgb.length} images to ${outDir}`);
  },
});

export const reconstructCommand = defineCommand({
  name: 'reconstruct',
  summary: 'encode and decode images, print PSNR per image, write the reconstructions',
  usage: 'svg reconstruct <images...> --autoencoder <ckpt> [--config <yaml>] [--dinov3 <weights>] --out <dir>',
  examples: ['svg reconstruct photos/*.jpg --autoencoder svg-autoencoder.safetensors --out recon/'],
  options: { ...autoencoderOptions, out: { type: 'string' }, ...backendOption },
  optionHelp: { ...autoencoderHelp, out: 'output folder', ...backendHelp },
  async run({ values, positionals }) {
    if (positionals.length === 0) throw new CliError('no images given (see: svg reconstruct --help)');
    const outDir = requireString(values, 'out', 'reconstruct');
    await startBackend(values.backend);
    const ae = await loadAutoencoderOption(values, 'reconstruct');
    const { batch, crops } = await readImages(positionals, encoderImageSize(ae));
    const recon = ae.reconstruct(batch, { clamp: true });
    batch.dispose();
    const rgb = await toRgb8(recon);
    recon.dispose();
    await mkdir(outDir, { recursive: true });
    for (const [i, im] of rgb.entries()) {
      const name = `${basename(positionals[i], extname(positionals[i]))}.png`;
      if (im.width !== crops[i].width) throw new CliError(`the decoder makes ${im.width}×${im.height} images from ${crops[i].width}×${crops[i].height} inputs: no PSNR`);
      const value = psnr(crops[i].data, im.pixels);
      await writeFile(join(outDir, name), await pngBytes(im, { software: 'svg-ts', psnr: value.toFixed(2) }));
      console.log(`${positionals[i]}: PSNR ${value.toFixed(2)} dB → ${join(outDir, name)}`);
    }
  },
});
