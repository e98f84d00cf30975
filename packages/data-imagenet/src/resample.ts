import { rgbImage, type RgbImage } from './image';

/**
 * Resampling filters with Pillow's definitions: `box` (support 0.5, 1 on (-0.5, 0.5]) and `bicubic`
 * (support 2, Keys cubic with a = -0.5).
 */
export type ResampleFilter = 'box' | 'bicubic';

/** A rectangle of the resized image: only these output pixels are computed. */
export interface Region {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const CLIP_MAX = 1 << (PRECISION_BITS + 8);

function boxFilter(x: number): number {
  return x > -0.5 && x <= 0.5 ? 1 : 0;
}

function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

const FILTERS: Record<ResampleFilter, { fn: (x: number) => number; support: number }> = {
  box: { fn: boxFilter, support: 0.5 },
  bicubic: { fn: bicubicFilter, support: 2 },
};

/** Per-output-pixel taps: source start, tap count, and 22-bit fixed-point weights (`ksize` slots each). */
interface Coefficients {
  readonly ksize: number;
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly weights: Int32Array;
}

/**
 * Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for output pixels `first .. first + n - 1` of a
 * resize from `inSize` to `outSize` (the full-image box `[0, inSize]`). The arithmetic follows Pillow's
 * C code operation by operation (doubles, `(int)` truncation, round-half-away-from-zero to 22 bits), which
 * is what makes the result bit-identical.
 */
function coefficients(inSize: number, outSize: number, filter: ResampleFilter, first: number, n: number): Coefficients {
  const { fn, support: filterSupport } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = filterSupport * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let i = 0; i < n; i++) {
    const xx = first + i;
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    const base = i * ksize;
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[base + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    start[i] = xmin;
    count[i] = xmax;
  }
  return { ksize, start, count, weights };
}

/** Pillow `clip8`: fixed-point sum to a byte. */
function clip8(v: number): number {
  if (v >= CLIP_MAX) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * Horizontal pass: output rows `0 .. rows-1` come from source rows `y0 ..`; output columns as in `c`.
 * Accumulators stay within int32 (|sum| < 2^31 for 8-bit inputs and normalised weights), so plain JS
 * number arithmetic is exact.
 */
function horizontalPass(src: RgbImage, y0: number, rows: number, c: Coefficients): Uint8Array {
  const outW = c.start.length;
  const out = new Uint8Array(outW * rows * 3);
  const s = src.data;
  const { start, count, weights, ksize } = c;
  const inRow = src.width * 3;
  let o = 0;
  for (let yy = 0; yy < rows; yy++) {
    const rowBase = (y0 + yy) * inRow;
    for (let xx = 0; xx < outW; xx++) {
      const n = count[xx];
      const kb = xx * ksize;
      let p = rowBase + start[xx] * 3;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let t = 0; t < n; t++, p += 3) {
        const w = weights[kb + t];
        r += s[p] * w;
        g += s[p + 1] * w;
        b += s[p + 2] * w;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/**
 * Vertical pass over `src` (row stride `srcWidth * 3`), reading `outW` pixels from column `x0`; source rows of
 * output row `i` are `c.start[i] - rowShift ..`.
 */
function verticalPass(
  s: Uint8Array,
  srcWidth: number,
  x0: number,
  outW: number,
  rowShift: number,
  c: Coefficients,
): Uint8Array {
  const outH = c.start.length;
  const n3 = outW * 3;
  const out = new Uint8Array(n3 * outH);
  const acc = new Float64Array(n3);
  const { start, count, weights, ksize } = c;
  const stride = srcWidth * 3;
  for (let yy = 0; yy < outH; yy++) {
    acc.fill(HALF);
    const kb = yy * ksize;
    const n = count[yy];
    let rowBase = (start[yy] - rowShift) * stride + x0 * 3;
    for (let t = 0; t < n; t++, rowBase += stride) {
      const w = weights[kb + t];
      for (let i = 0; i < n3; i++) acc[i] += s[rowBase + i] * w;
    }
    const o = yy * n3;
    for (let i = 0; i < n3; i++) out[o + i] = clip8(acc[i]);
  }
  return out;
}

/**
 * Resizes an RGB image to `outWidth × outHeight` bit-exactly as Pillow 9.4 `Image.resize(size, BOX|BICUBIC)`
 * does for 8-bit RGB images (separable: horizontal pass first, then vertical; 22-bit fixed-point weights;
 * an axis whose size does not change is not resampled). With `region`, only that rectangle of the resized
 * image is computed and returned — identical to resizing everything and cropping, but cheaper.
 */
export function resizePillow(
  img: RgbImage,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter,
  region: Region = { x: 0, y: 0, width: outWidth, height: outHeight },
): RgbImage {
  if (!(outWidth >= 1 && outHeight >= 1 && Number.isInteger(outWidth) && Number.isInteger(outHeight))) {
    throw new Error(`resize target must be positive integers, got ${outWidth}x${outHeight}`);
  }
  const { x, y, width, height } = region;
  if (x < 0 || y < 0 || width < 1 || height < 1 || x + width > outWidth || y + height > outHeight) {
    throw new Error(`region ${width}x${height}+${x}+${y} lies outside the ${outWidth}x${outHeight} output`);
  }
  const needHorizontal = outWidth !== img.width;
  const needVertical = outHeight !== img.height;
  const vert = needVertical ? coefficients(img.height, outHeight, filter, y, height) : undefined;
  // Source rows the output needs: those the vertical taps read, or the region's rows when there is no vertical pass.
  const rowFirst = vert ? vert.start[0] : y;
  const rowEnd = vert ? vert.start[height - 1] + vert.count[height - 1] : y + height;

  if (needHorizontal) {
    const horiz = coefficients(img.width, outWidth, filter, x, width);
    const temp = horizontalPass(img, rowFirst, rowEnd - rowFirst, horiz);
    if (!vert) return rgbImage(width, height, temp);
    return rgbImage(width, height, verticalPass(temp, width, 0, width, rowFirst, vert));
  }
  if (vert) return rgbImage(width, height, verticalPass(img.data, img.width, x, width, 0, vert));
  return cropRgb(img, x, y, width, height);
}

/** Copies the rectangle `width × height` at (`x`, `y`) out of an image. */
export function cropRgb(img: RgbImage, x: number, y: number, width: number, height: number): RgbImage {
  if (x < 0 || y < 0 || x + width > img.width || y + height > img.height) {
    throw new Error(`crop ${width}x${height}+${x}+${y} lies outside the ${img.width}x${img.height} image`);
  }
  const out = new Uint8Array(width * height * 3);
  const row = width * 3;
  for (let r = 0; r < height; r++) {
    const s = ((y + r) * img.width + x) * 3;
    out.set(img.data.subarray(s, s + row), r * row);
  }
  return rgbImage(width, height, out);
}
