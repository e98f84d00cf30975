import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodePng, readPngText } from './png';

describe('encodePng', () => {
  it('writes a PNG that a real decoder reads back pixel for pixel, with its text', async () => {
    const width = 7;
    const height = 5;
    const pixels = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 256);
    const png = await encodePng({ width, height, channels: 3, pixels }, { class: '207 golden retriever', seed: '42', note: 'ünïcode ✓' });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([7, 5, 3]);
    expect(Buffer.compare(data, Buffer.from(pixels))).toBe(0);
    expect(readPngText(png)).toEqual({ class: '207 golden retriever', seed: '42', note: 'ünïcode ✓' });
  });

  it('rejects pixel buffers of the wrong size', async () => {
    await expect(encodePng({ width: 2, height: 2, channels: 3, pixels: new Uint8Array(11) })).rejects.toThrow(/11 bytes/);
  });
});
