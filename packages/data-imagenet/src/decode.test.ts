import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeImageFile } from './decode-node';
import { toRgb } from './image';
import { scratchDir } from './test-util';

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
let rgb: { data: Uint8Array; width: number; height: number };

beforeAll(async () => {
  const { data, info } = await sharp(join(SKIMAGE, 'chelsea.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  rgb = { data: new Uint8Array(data), width: info.width, height: info.height };
});

const raw = () => sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } });

/** Byte equality without vitest's element-wise diff (slow on large arrays). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  let differ = 0;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) differ++;
  expect(differ).toBe(0);
}

/** Inserts a PNG chunk right after IHDR (sharp cannot attach a profile without converting the pixels). */
function insertPngChunk(png: Uint8Array, type: string, data: Uint8Array): Uint8Array {
  const at = 8 + 25;
  const chunk = new Uint8Array(12 + data.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  chunk.set(new TextEncoder().encode(type), 4);
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return Buffer.concat([png.subarray(0, at), chunk, png.subarray(at)]);
}

describe('decodeImage (sharp, Pillow-compatible conversions)', () => {
  it('decodes PNG exactly and drops alpha without compositing', async () => {
    const png = await raw().png().toBuffer();
    expectSameBytes((await decodeImage(png)).data, rgb.data);
    const alpha = new Uint8Array(rgb.width * rgb.height * 4);
    for (let i = 0; i < rgb.width * rgb.height; i++) {
      alpha.set(rgb.data.subarray(i * 3, i * 3 + 3), i * 4);
      alpha[i * 4 + 3] = i % 256;
    }
    const rgba = await sharp(alpha, { raw: { width: rgb.width, height: rgb.height, channels: 4 } }).png().toBuffer();
    expectSameBytes((await decodeImage(rgba)).data, rgb.data);
  });

  it('replicates grey images (PNG and JPEG) to three channels', async () => {
    const grey = new Uint8Array(rgb.width * rgb.height).map((_, i) => rgb.data[i * 3 + 1]);
    const greyRaw = () => sharp(grey, { raw: { width: rgb.width, height: rgb.height, channels: 1 } }).toColourspace('b-w');
    const png = await greyRaw().png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(1);
    const out = await decodeImage(png);
    for (let i = 0; i < grey.length; i += 101) expect([out.data[i * 3], out.data[i * 3 + 1], out.data[i * 3 + 2]]).toEqual([grey[i], grey[i], grey[i]]);
    const jpeg = await greyRaw().jpeg({ quality: 90 }).toBuffer();
    const meta = await sharp(jpeg).metadata();
    expect(meta.channels).toBe(1);
    const { data: g } = await sharp(jpeg).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const j = await decodeImage(jpeg);
    for (let i = 0; i < g.length; i += 53) expect(j.data[i * 3 + 2]).toBe(g[i]);
  });

  it("converts CMYK JPEGs with Pillow's formula, not a colour-managed transform", async () => {
    const jpeg = await raw().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(jpeg).metadata()).space).toBe('cmyk');
    const ours = await decodeImage(jpeg);
    const { data: cmyk, info } = await sharp(jpeg, { ignoreIcc: true })
      .pipelineColourspace('cmyk')
      .toColourspace('cmyk')
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    const want = toRgb(new Uint8Array(cmyk), info.width, info.height, 4, true);
    expectSameBytes(ours.data, want.data);
    // Pillow: R = 255 - K - C(255 - K)/255, rounded; spot-check against the formula directly
    for (let i = 0; i < 5000; i += 97) {
      const [c, k] = [cmyk[i * 4], cmyk[i * 4 + 3]];
      expect(Math.abs(ours.data[i * 3] - (255 - k - (c * (255 - k)) / 255))).toBeLessThanOrEqual(1);
    }
    let err = 0;
    for (let i = 0; i < rgb.data.length; i++) err += Math.abs(ours.data[i] - rgb.data[i]);
    expect(err / rgb.data.length).toBeLessThan(25); // still the same picture
  });

  it('ignores embedded ICC profiles and EXIF orientation, as Pillow does', async () => {
    const profile = (await sharp(await raw().withIccProfile('p3').png().toBuffer()).metadata()).icc!;
    const plain = await raw().png().toBuffer();
    const iccp = Buffer.concat([Buffer.from('P3\0\0'), deflateSync(profile)]);
    const tagged = insertPngChunk(plain, 'iCCP', iccp);
    const meta = await sharp(tagged).metadata();
    expect(meta.icc?.length).toBe(profile.length);
    expectSameBytes((await decodeImage(tagged)).data, rgb.data);
    const jpeg = await raw().jpeg({ quality: 90 }).toBuffer();
    const rotated = await raw().jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(rotated).metadata()).orientation).toBe(6);
    const out = await decodeImage(rotated);
    expect([out.width, out.height]).toEqual([rgb.width, rgb.height]);
    expectSameBytes(out.data, (await decodeImage(jpeg)).data);
  });

  it('tolerates JPEG warnings but rejects truncated or non-image files', async () => {
    const jpeg = readFileSync(join(SKIMAGE, 'rocket.jpg'));
    const dqt = jpeg.indexOf(Buffer.from([0xff, 0xdb]));
    const extra = Buffer.concat([jpeg.subarray(0, dqt), Buffer.from([0, 1, 2]), jpeg.subarray(dqt)]);
    expectSameBytes((await decodeImage(extra)).data, (await decodeImage(jpeg)).data);
    await expect(decodeImage(jpeg.subarray(0, jpeg.length >> 1), 'half.jpg')).rejects.toThrow(/cannot decode image half.jpg/);
    await expect(decodeImage(new TextEncoder().encode('hello'))).rejects.toThrow(/cannot decode/);
    await expect(decodeImageFile(join(scratchDir('decode'), 'missing.jpg'))).rejects.toThrow(/cannot read image .*missing.jpg: ENOENT/);
  });
});

describe('decodeImage: the formats sharp cannot read, and decompression bombs', () => {
  /** A binary netpbm file of the photo (P6) or of its red channel (P5), with a header comment. */
  const netpbm = (grey: boolean, maxval = 255) => {
    const n = rgb.width * rgb.height;
    const pixels = grey ? Uint8Array.from({ length: n }, (_, i) => rgb.data[i * 3]) : rgb.data;
    const scaled = maxval === 255 ? pixels : pixels.map((v) => Math.round((v * maxval) / 255));
    const header = new TextEncoder().encode(`${grey ? 'P5' : 'P6'}\n# made by the test\n${rgb.width} ${rgb.height}\n${maxval}\n`);
    return new Uint8Array([...header, ...scaled]);
  };

  /** An uncompressed BMP of the photo: 24-bit bottom-up or 32-bit top-down. */
  const bmp = (bits: 24 | 32) => {
    const per = bits / 8;
    const stride = Math.ceil((rgb.width * per) / 4) * 4;
    const out = new Uint8Array(54 + stride * rgb.height);
    const v = new DataView(out.buffer);
    out.set([0x42, 0x4d]);
    v.setUint32(2, out.length, true);
    v.setUint32(10, 54, true);
    v.setUint32(14, 40, true);
    v.setInt32(18, rgb.width, true);
    v.setInt32(22, bits === 24 ? rgb.height : -rgb.height, true);
    v.setUint16(26, 1, true);
    v.setUint16(28, bits, true);
    for (let y = 0; y < rgb.height; y++) {
      const row = 54 + (bits === 24 ? rgb.height - 1 - y : y) * stride;
      for (let x = 0; x < rgb.width; x++) {
        const i = (y * rgb.width + x) * 3;
        out.set([rgb.data[i + 2], rgb.data[i + 1], rgb.data[i]], row + x * per);
      }
    }
    return out;
  };

  it('reads binary PPM/PGM (any maxval ≤ 255) and uncompressed 24/32-bit BMP exactly', async () => {
    expectSameBytes((await decodeImage(netpbm(false), 'x.ppm')).data, rgb.data);
    const grey = await decodeImage(netpbm(true), 'x.pgm');
    expect(grey.data[3 * 17 + 1]).toBe(rgb.data[3 * 17]); // grey replicated
    const low = await decodeImage(netpbm(false, 15), 'x.ppm');
    expect(Math.max(...low.data.subarray(0, 3000).map((v, i) => Math.abs(v - rgb.data[i])))).toBeLessThanOrEqual(9); // 4-bit levels
    expectSameBytes((await decodeImage(bmp(24), 'x.bmp')).data, rgb.data);
    expectSameBytes((await decodeImage(bmp(32), 'x.bmp')).data, rgb.data);
  });

  it('refuses truncated bitmaps and images over the pixel limit with one line naming the file', async () => {
    await expect(decodeImage(netpbm(false).subarray(0, 5000), 'cut.ppm')).rejects.toThrow(/^cannot decode image cut\.ppm: truncated netpbm file/);
    await expect(decodeImage(bmp(24).subarray(0, 5000), 'cut.bmp')).rejects.toThrow(/truncated BMP file/);
    // A 20000 × 20000 PNG header with no pixels: refused from the header, before any pixel memory is taken.
    const ihdr = new Uint8Array(17);
    ihdr.set(new TextEncoder().encode('IHDR'));
    new DataView(ihdr.buffer).setUint32(4, 20000);
    new DataView(ihdr.buffer).setUint32(8, 20000);
    ihdr.set([8, 2, 0, 0, 0], 12);
    const chunk = (body: Uint8Array) => {
      const out = new Uint8Array(body.length + 8);
      new DataView(out.buffer).setUint32(0, body.length - 4);
      out.set(body, 4);
      new DataView(out.buffer).setUint32(body.length + 4, crc32(body));
      return out;
    };
    const idat = new Uint8Array([...new TextEncoder().encode('IDAT'), ...deflateSync(new Uint8Array(1000))]);
    const bomb = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...chunk(ihdr), ...chunk(idat), ...chunk(new TextEncoder().encode('IEND'))]);
    const started = performance.now();
    await expect(decodeImage(bomb, 'bomb.png')).rejects.toThrow(/^cannot decode image bomb\.png: .*pixel limit/i);
    expect(performance.now() - started).toBeLessThan(1000);
    const bigBmp = bmp(24);
    new DataView(bigBmp.buffer).setInt32(18, 20000, true);
    new DataView(bigBmp.buffer).setInt32(22, 20000, true);
    await expect(decodeImage(bigBmp, 'big.bmp')).rejects.toThrow(/400000000 pixels is over the limit of 178956970/);
  });
});
