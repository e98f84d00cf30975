import * as tf from '@tensorflow/tfjs-core';
import { type RgbImage, encodePng } from '@svg/data-imagenet';
import { loadCenterCrop } from '@svg/data-imagenet/node';
import type { SvgAutoencoder } from '@svg/autoencoder';
import { CliError } from './cli-error';
import { requireFile } from './files';

/** Reads images, ADM-centre-crops them to `size` (as SVG trains) and stacks them as NHWC in [-1, 1]. */
export async function readImages(
  paths: string[],
  size: number,
  options: { skipUnreadable?: boolean } = {},
): Promise<{ batch: tf.Tensor4D; crops: RgbImage[]; skipped: { path: string; error: string }[] }> {
  const crops: RgbImage[] = [];
  const skipped: { path: string; error: string }[] = [];
  for (const path of paths) {
    requireFile(path, 'image');
    try {
      crops.push(await loadCenterCrop(path, size));
    } catch (e) {
      const error = `not a readable image (${(e as Error).message})`;
      if (!options.skipUnreadable) throw new CliError(`${path}: ${error}`);
      skipped.push({ path, error });
    }
  }
  const data = new Float32Array(crops.length * size * size * 3);
  crops.forEach((c, i) => c.data.forEach((v, j) => (data[i * size * size * 3 + j] = v / 127.5 - 1)));
  return { batch: tf.tensor4d(data, [crops.length, size, size, 3]), crops, skipped };
}

/** NHWC images in [-1, 1] → 8-bit RGB buffers. */
export async function toRgb8(images: tf.Tensor4D): Promise<{ width: number; height: number; pixels: Uint8Array }[]> {
  const [b, height, width] = images.shape;
  const u8 = tf.tidy(() => tf.cast(tf.round(tf.mul(tf.add(tf.clipByValue(images, -1, 1), 1), 127.5)), 'int32'));
  const data = await u8.data();
  u8.dispose();
  const per = height * width * 3;
  return Array.from({ length: b }, (_, i) => ({ width, height, pixels: Uint8Array.from(data.subarray(i * per, (i + 1) * per)) }));
}

export async function pngBytes(image: { width: number; height: number; pixels: Uint8Array }, text: Record<string, string> = {}): Promise<Uint8Array> {
  return encodePng({ ...image, channels: 3 }, text);
}

/** Peak signal-to-noise ratio of two 8-bit images, in dB. */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** The image side the autoencoder encodes: its residual ViT's input size (SVG: 256). */
export function encoderImageSize(ae: SvgAutoencoder): number {
  return ae.extraVit?.config.imageSize ?? 256;
}
