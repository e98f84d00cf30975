/**
 * PNG encoding with text metadata, on web-platform APIs only (CompressionStream), so the CLI and the browser
 * sampler write the same files: 8-bit RGB/RGBA/grey pixels, one iTXt chunk (UTF-8) per metadata entry.
 */

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function textChunk(key: string, value: string): Uint8Array {
  if (!/^[\x20-\x7e]{1,79}$/.test(key)) throw new Error(`PNG text key must be 1-79 printable ASCII characters: "${key}"`);
  const enc = new TextEncoder();
  // iTXt: keyword, 0, compression flag 0, method 0, empty language tag, 0, empty translated keyword, 0, text
  return chunk('iTXt', concat([enc.encode(key), new Uint8Array([0, 0, 0, 0, 0]), enc.encode(value)]));
}

export interface PngImage {
  width: number;
  height: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA) interleaved 8-bit channels, rows top to bottom. */
  channels: 1 | 3 | 4;
  pixels: Uint8Array;
}

/** Encodes pixels as a PNG with `text` as UTF-8 text chunks (e.g. the class, seed and sampler settings). */
export async function encodePng(image: PngImage, text: Record<string, string> = {}): Promise<Uint8Array> {
  const { width, height, channels, pixels } = image;
  if (pixels.length !== width * height * channels) {
    throw new Error(`encodePng: ${pixels.length} bytes do not make a ${width}×${height}×${channels} image`);
  }
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8;
  header[9] = { 1: 0, 3: 2, 4: 6 }[channels];
  return concat([
    new Uint8Array(SIGNATURE),
    chunk('IHDR', header),
    ...Object.entries(text).map(([k, v]) => textChunk(k, v)),
    chunk('IDAT', await deflate(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Reads the tEXt and (uncompressed) iTXt entries of a PNG. */
export function readPngText(png: Uint8Array): Record<string, string> {
  if (SIGNATURE.some((b, i) => png[i] !== b)) throw new Error('not a PNG file');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  const utf8 = new TextDecoder();
  const latin1 = new TextDecoder('latin1');
  for (let o = 8; o + 12 <= png.length; ) {
    const length = view.getUint32(o);
    const type = latin1.decode(png.subarray(o + 4, o + 8));
    const data = png.subarray(o + 8, o + 8 + length);
    const zero = data.indexOf(0);
    if (type === 'tEXt' && zero > 0) out[latin1.decode(data.subarray(0, zero))] = latin1.decode(data.subarray(zero + 1));
    if (type === 'iTXt' && zero > 0 && data[zero + 1] === 0) {
      const lang = data.indexOf(0, zero + 3);
      const translated = data.indexOf(0, lang + 1);
      out[latin1.decode(data.subarray(0, zero))] = utf8.decode(data.subarray(translated + 1));
    }
    if (type === 'IEND') break;
    o += 12 + length;
  }
  return out;
}
