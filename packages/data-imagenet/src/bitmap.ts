import { type RgbImage, toRgb } from './image';

/**
 * Pillow's decompression-bomb limit (`2 · Image.MAX_IMAGE_PIXELS`): images with more pixels are refused before
 * they are decoded (a 746 KB PNG can otherwise ask for 2 GB).
 */
export const MAX_IMAGE_PIXELS = 2 * 89_478_485;

/** Throws when `width × height` is over {@link MAX_IMAGE_PIXELS}. */
export function checkImagePixels(width: number, height: number): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`${width}×${height} = ${width * height} pixels is over the limit of ${MAX_IMAGE_PIXELS} (a decompression bomb?)`);
  }
}

/**
 * Decodes the two uncompressed formats torchvision's `IMG_EXTENSIONS` lists and sharp cannot read: binary netpbm
 * (`P5` grey, `P6` RGB, maxval ≤ 255; `.pgm`, `.ppm`) and Windows BMP (uncompressed 24- or 32-bit, bottom-up or
 * top-down). Returns null for any other format; throws on a truncated or unsupported variant (the caller names
 * the file).
 */
export function decodeBitmap(bytes: Uint8Array): RgbImage | null {
  if (bytes.length >= 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x36)) return decodeNetpbm(bytes);
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return decodeBmp(bytes);
  return null;
}

function decodeNetpbm(bytes: Uint8Array): RgbImage {
  const channels = bytes[1] === 0x36 ? 3 : 1;
  const fields: number[] = [];
  let at = 2;
  while (fields.length < 3) {
    while (at < bytes.length && (isSpace(bytes[at]) || bytes[at] === 0x23)) {
      if (bytes[at] === 0x23) while (at < bytes.length && bytes[at] !== 0x0a) at++; // a comment
      else at++;
    }
    let value = '';
    while (at < bytes.length && bytes[at] >= 0x30 && bytes[at] <= 0x39 && value.length < 10) value += String.fromCharCode(bytes[at++]);
    if (value === '') throw new Error(`netpbm header is cut short or not numeric`);
    fields.push(Number(value));
  }
  const [width, height, maxval] = fields;
  if (!isSpace(bytes[at])) throw new Error(`netpbm header does not end with a blank`);
  at++;
  if (width < 1 || height < 1) throw new Error(`netpbm size ${width}×${height}`);
  if (maxval < 1 || maxval > 255) throw new Error(`netpbm maxval ${maxval} (only 8-bit files, maxval ≤ 255, are supported)`);
  checkImagePixels(width, height);
  const size = width * height * channels;
  if (bytes.length - at < size) throw new Error(`truncated netpbm file (${bytes.length - at} of ${size} pixel bytes)`);
  const data = bytes.slice(at, at + size);
  if (maxval !== 255) for (let i = 0; i < size; i++) data[i] = Math.round((Math.min(data[i], maxval) * 255) / maxval);
  return toRgb(data, width, height, channels);
}

function decodeBmp(bytes: Uint8Array): RgbImage {
  if (bytes.length < 54) throw new Error(`truncated BMP header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offset = view.getUint32(10, true);
  const width = view.getInt32(18, true);
  const rawHeight = view.getInt32(22, true);
  const bits = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const height = Math.abs(rawHeight);
  if (width < 1 || height < 1) throw new Error(`BMP size ${width}×${rawHeight}`);
  if ((bits !== 24 && bits !== 32) || !(compression === 0 || (compression === 3 && bits === 32))) {
    throw new Error(`BMP with ${bits} bits per pixel and compression ${compression} is not supported (only uncompressed 24/32-bit)`);
  }
  checkImagePixels(width, height);
  const per = bits / 8;
  const stride = Math.ceil((width * per) / 4) * 4;
  if (bytes.length < offset + stride * height) throw new Error(`truncated BMP file (${bytes.length} bytes, ${offset + stride * height} needed)`);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = offset + (rawHeight > 0 ? height - 1 - y : y) * stride;
    for (let x = 0; x < width; x++) {
      const p = row + x * per;
      const o = (y * width + x) * 3;
      out[o] = bytes[p + 2];
      out[o + 1] = bytes[p + 1];
      out[o + 2] = bytes[p];
    }
  }
  return toRgb(out, width, height, 3);
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}
