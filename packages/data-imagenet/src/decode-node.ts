import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS, decodeBitmap } from './bitmap';
import { centerCropArr } from './crop';
import { type RgbImage, toRgb } from './image';

/**
 * Decodes image bytes (JPEG, PNG, WebP, TIFF, ...) to 8-bit RGB with sharp, matching Pillow's
 * `Image.open(...).convert('RGB')`: embedded ICC profiles are ignored (Pillow does not apply them), EXIF
 * orientation is ignored, grey is replicated, alpha dropped, and CMYK JPEGs are converted with Pillow's naive
 * formula instead of a colour-managed transform. Like Pillow, minor JPEG warnings are tolerated but truncated
 * files are rejected, and images over Pillow's decompression-bomb limit ({@link MAX_IMAGE_PIXELS}) are refused
 * before decoding. Binary netpbm (`.ppm`, `.pgm`) and uncompressed BMP, which sharp cannot read, are decoded here.
 * Throws on undecodable input (the message names `source`).
 */
export async function decodeImage(bytes: Uint8Array, source = '<image bytes>'): Promise<RgbImage> {
  try {
    const bitmap = decodeBitmap(bytes);
    if (bitmap) return bitmap;
    const img = sharp(bytes, { ignoreIcc: true, failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS });
    const meta = await img.metadata();
    const cmyk = meta.space === 'cmyk';
    if (cmyk) img.pipelineColourspace('cmyk').toColourspace('cmyk');
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return toRgb(new Uint8Array(data.buffer, data.byteOffset, data.length), info.width, info.height, info.channels, cmyk);
  } catch (e) {
    throw new Error(`cannot decode image ${source}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}

/** Reads and decodes an image file (see {@link decodeImage}). */
export async function decodeImageFile(path: string): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`cannot read image ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return decodeImage(bytes, path);
}

/** Reads, decodes and ADM-centre-crops an image file to `size × size` ({@link centerCropArr}). */
export async function loadCenterCrop(path: string, size: number): Promise<RgbImage> {
  return centerCropArr(await decodeImageFile(path), size);
}
