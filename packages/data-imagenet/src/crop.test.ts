import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RawTensor } from '@svg/weights';
import { describe, expect, it } from 'vitest';
import { centerCropArr, roundHalfEven } from './crop';
import { decodeImage } from './decode-node';
import { type RgbImage, rgbImage } from './image';
import { normalizeImage, signedToImagenet } from './normalize';
import { resizePillow } from './resample';
import { expectClose, fixturesDir, loadFixture } from './test-util';

const fixture = loadFixture('preprocess');
const config = fixture.json.config as { images: string[]; sizes: number[] };
const stem = (file: string) => file.replace(/\.\w+$/, '');

function fromHwc(t: RawTensor): RgbImage {
  return rgbImage(t.shape[1], t.shape[0], t.data as Uint8Array);
}

async function decodeFixtureImage(file: string): Promise<RgbImage> {
  return decodeImage(readFileSync(resolve(fixturesDir(), 'images', file)), file);
}

describe('ADM centre crop, bit-exact with Pillow (preprocess fixture)', () => {
  for (const file of config.images) {
    for (const size of config.sizes) {
      it(`${file} → ${size}×${size} from Pillow's decoded pixels`, async () => {
        const decoded = fixture.io.get(`decoded_${stem(file)}`);
        const src = decoded ? fromHwc(decoded) : await decodeFixtureImage(file);
        const out = centerCropArr(src, size);
        const expected = fixture.io.get(`crop${size}_${stem(file)}`)!;
        expect([out.height, out.width, 3]).toEqual(expected.shape);
        // tolerance is ±1 grey level; we require exact equality.
        expect(expectClose(`crop${size}_${stem(file)}`, out.data, expected, { max_abs: 0, rel_l2: 0 }).maxAbs).toBe(0);
      });
    }
  }

  for (const file of config.images.filter((f) => f.endsWith('.jpg'))) {
    it(`sharp decodes ${file} to exactly Pillow's pixels, so decode + crop is exact too`, async () => {
      const ours = await decodeFixtureImage(file);
      const pillow = fixture.io.get(`decoded_${stem(file)}`)!;
      expect([ours.height, ours.width, 3]).toEqual(pillow.shape);
      expect(expectClose(`decoded_${stem(file)}`, ours.data, pillow, { max_abs: 0, rel_l2: 0 }).maxAbs).toBe(0);
      const crop = centerCropArr(ours, 256);
      expectClose(`crop256_${stem(file)}`, crop.data, fixture.io.get(`crop256_${stem(file)}`)!, { max_abs: 0, rel_l2: 0 });
    });
  }

  it('ImageNet normalisation of the astronaut crop matches dino_input256 (ToTensor + Normalize)', async () => {
    const crop = centerCropArr(await decodeFixtureImage('astronaut.png'), 256);
    const x = normalizeImage(crop, { normalization: 'imagenet', layout: 'nchw' });
    expectClose('dino_input256_astronaut', x, fixture.io.get('dino_input256_astronaut')!, fixture.tolerance('dino_input256_astronaut'));
  });

  it('[-1, 1] image and its ImageNet-normalised x_in match DinoDecoder.get_input', () => {
    const input = fixture.io.get('ae_image64_chelsea')!; // [1, 64, 64, 3] float32 in [-1, 1]
    const hwc = input.data as Float32Array;
    const nchw = new Float32Array(hwc.length);
    for (let p = 0; p < 64 * 64; p++) for (let c = 0; c < 3; c++) nchw[c * 4096 + p] = hwc[p * 3 + c];
    expectClose('ae_x64_chelsea', nchw, fixture.io.get('ae_x64_chelsea')!, fixture.tolerance('ae_x64_chelsea'));
    const xIn = signedToImagenet(nchw, [1, 3, 64, 64], 'nchw');
    expectClose('ae_x_dino64_chelsea', xIn, fixture.io.get('ae_x_dino64_chelsea')!, fixture.tolerance('ae_x_dino64_chelsea'));
    // the same in NHWC
    const xInHwc = signedToImagenet(hwc, [1, 64, 64, 3], 'nhwc');
    for (let p = 0; p < 4096; p += 97) for (let c = 0; c < 3; c++) expect(xInHwc[p * 3 + c]).toBe(xIn[c * 4096 + p]);
  });

  it('the [-1, 1] normalisation of the chelsea crop is v / 127.5 - 1', async () => {
    const crop = centerCropArr(await decodeFixtureImage('chelsea.png'), 64);
    const x = normalizeImage(crop, { normalization: 'signed', layout: 'nhwc' });
    for (let i = 0; i < crop.data.length; i++) expect(x[i]).toBe(Math.fround(crop.data[i] / 127.5 - 1));
  });
});

describe('resampler details', () => {
  it('Python round() is half-to-even', () => {
    expect([0.5, 1.5, 2.5, 2.4999, 2.5001, 341.5, 342.5].map(roundHalfEven)).toEqual([0, 2, 2, 2, 3, 342, 342]);
  });

  it('a region of a resize equals the same pixels of the full resize', async () => {
    const src = await decodeFixtureImage('rocket.jpg');
    for (const filter of ['box', 'bicubic'] as const) {
      const full = resizePillow(src, 301, 199, filter);
      const part = resizePillow(src, 301, 199, filter, { x: 17, y: 40, width: 100, height: 51 });
      for (let y = 0; y < 51; y++) {
        const a = full.data.subarray(((y + 40) * 301 + 17) * 3, ((y + 40) * 301 + 117) * 3);
        expect(part.data.subarray(y * 300, (y + 1) * 300)).toEqual(a);
      }
    }
  });

  it('resizing to the same size is the identity; one changed axis resamples only that axis', () => {
    const data = new Uint8Array(5 * 4 * 3).map((_, i) => (i * 37) % 256);
    const img = rgbImage(5, 4, data);
    expect(resizePillow(img, 5, 4, 'bicubic').data).toEqual(data);
    const tall = resizePillow(img, 5, 8, 'box');
    for (let y = 0; y < 8; y++) expect(tall.data.subarray(y * 15, y * 15 + 15)).toEqual(data.subarray((y >> 1) * 15, (y >> 1) * 15 + 15));
  });

  it('rejects bad sizes and regions', () => {
    const img = rgbImage(2, 2, new Uint8Array(12));
    expect(() => resizePillow(img, 0, 2, 'box')).toThrow(/positive integers/);
    expect(() => resizePillow(img, 4, 4, 'box', { x: 2, y: 0, width: 3, height: 1 })).toThrow(/outside/);
    expect(() => centerCropArr(img, 0)).toThrow(/positive integer/);
  });
});

/** Pillow's algorithm written plainly (no tap padding, no region, full intermediate image): an oracle for the layout tricks. */
function plainPillowResize(img: RgbImage, w: number, h: number, filter: 'box' | 'bicubic'): Uint8Array {
  const f = filter === 'box' ? (x: number) => (x > -0.5 && x <= 0.5 ? 1 : 0) : (x: number) => {
    x = Math.abs(x);
    return x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? (((x - 5) * x + 8) * x - 4) * -0.5 : 0;
  };
  const support = filter === 'box' ? 0.5 : 2;
  const coeffs = (inSize: number, outSize: number) => {
    const scale = inSize / outSize;
    const fs = Math.max(scale, 1);
    return Array.from({ length: outSize }, (_, xx) => {
      const center = (xx + 0.5) * scale;
      const xmin = Math.max(0, Math.trunc(center - support * fs + 0.5));
      const xmax = Math.min(inSize, Math.trunc(center + support * fs + 0.5));
      const k = Array.from({ length: xmax - xmin }, (_, x) => f((x + xmin - center + 0.5) / fs));
      const sum = k.reduce((a, b) => a + b, 0);
      return { xmin, k: k.map((v) => (sum ? v / sum : v)).map((v) => Math.trunc(v * 2 ** 22 + (v < 0 ? -0.5 : 0.5))) };
    });
  };
  const clip = (v: number) => (v >= 2 ** 30 ? 255 : v <= 0 ? 0 : Math.floor(v / 2 ** 22));
  let cur = img.data;
  let cw = img.width;
  if (w !== img.width) {
    const cs = coeffs(img.width, w);
    const out = new Uint8Array(w * img.height * 3);
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) {
          let s = 2 ** 21;
          cs[x].k.forEach((k, t) => (s += cur[(y * cw + cs[x].xmin + t) * 3 + c] * k));
          out[(y * w + x) * 3 + c] = clip(s);
        }
    cur = out;
    cw = w;
  }
  if (h !== img.height) {
    const cs = coeffs(img.height, h);
    const out = new Uint8Array(cw * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < cw; x++)
        for (let c = 0; c < 3; c++) {
          let s = 2 ** 21;
          cs[y].k.forEach((k, t) => (s += cur[((cs[y].xmin + t) * cw + x) * 3 + c] * k));
          out[(y * cw + x) * 3 + c] = clip(s);
        }
    cur = out;
  }
  return cur;
}

describe('resampler kernels against the plain algorithm', () => {
  const noise = (w: number, h: number) => rgbImage(w, h, Uint8Array.from({ length: w * h * 3 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 24) & 255));
  const cases: [number, number, number, number][] = [
    [37, 23, 5, 3], [37, 23, 200, 150], [640, 427, 100, 67], [3, 2, 7, 5], [1, 1, 3, 3], [9, 9, 2, 2], [250, 200, 125, 100], [99, 60, 98, 61],
  ];
  for (const [w, h, ow, oh] of cases) {
    for (const filter of ['box', 'bicubic'] as const) {
      it(`${filter} ${w}x${h} → ${ow}x${oh}`, () => {
        const img = noise(w, h);
        const ours = resizePillow(img, ow, oh, filter).data;
        const want = plainPillowResize(img, ow, oh, filter);
        let differ = 0;
        for (let i = 0; i < want.length; i++) if (ours[i] !== want[i]) differ++;
        expect(differ).toBe(0);
      });
    }
  }
});
