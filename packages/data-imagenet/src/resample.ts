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

/**
 * Per-output-pixel taps in a uniform layout: `taps` consecutive source pixels from `start[i]`, with 22-bit
 * fixed-point weights `weights[i * taps ..]`. Pillow's own tap windows (up to `ksize` wide) are padded with
 * zero weights to a multiple of 4 (or to 2, e.g. for BOX halving of an even size) and shifted to stay inside the
 * source, so the passes can run unrolled; zero-weight taps add exactly 0, so the sums are unchanged.
 */
interface Coefficients {
  readonly taps: number;
  readonly start: Int32Array;
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
  const k = new Float64Array(ksize);
  const ss = 1 / filterScale;
  const xmins = new Int32Array(n);
  const counts = new Int32Array(n);
  const fixed = new Int32Array(n * ksize);
  let widest = 1;
  for (let i = 0; i < n; i++) {
    const center = (first + i + 0.5) * scale;
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
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      fixed[i * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    xmins[i] = xmin;
    counts[i] = xmax;
    if (xmax > widest) widest = xmax;
  }
  const taps = Math.min(inSize, widest <= 2 ? widest : Math.ceil(widest / 4) * 4);
  const start = new Int32Array(n);
  const weights = new Int32Array(n * taps);
  for (let i = 0; i < n; i++) {
    const s = Math.min(xmins[i], inSize - taps);
    const shift = xmins[i] - s;
    start[i] = s;
    for (let x = 0; x < counts[i]; x++) weights[i * taps + shift + x] = fixed[i * ksize + x];
  }
  return { taps, start, weights };
}

/**
 * Every sum below fits in int32, as in Pillow's C code: |Σ v·w| ≤ 255 · Σ|w| < 255 · 1.3 · 2^22 < 2^31 for
 * 8-bit values and normalised BOX/BICUBIC weights (partial sums too), so int32 arithmetic (`Math.imul`, `| 0`)
 * is exact; it is also what V8 runs fastest.
 */
const mul = Math.imul;

/** Pillow `clip8`: fixed-point sum to a byte. */
function clip8(v: number): number {
  if (v >= CLIP_MAX) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * Horizontal pass: output rows `0 .. rows-1` come from source rows `y0 ..`; output columns as in `c`.
 */
function horizontalPass(src: RgbImage, y0: number, rows: number, c: Coefficients): Uint8Array {
  if (c.taps === 2) return horizontal2(src, y0, rows, c);
  if (c.taps === 4) return horizontal4(src, y0, rows, c);
  if (c.taps === 8) return horizontal8(src, y0, rows, c);
  const outW = c.start.length;
  const out = new Uint8Array(outW * rows * 3);
  const s = src.data;
  const { start, weights, taps } = c;
  const inRow = src.width * 3;
  let o = 0;
  for (let yy = 0; yy < rows; yy++) {
    const rowBase = (y0 + yy) * inRow;
    for (let xx = 0; xx < outW; xx++) {
      const kb = xx * taps;
      let p = rowBase + start[xx] * 3;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let t = 0; t < taps; t++, p += 3) {
        const w = weights[kb + t];
        r = (r + mul(s[p], w)) | 0;
        g = (g + mul(s[p + 1], w)) | 0;
        b = (b + mul(s[p + 2], w)) | 0;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

// The common tap counts (2: BOX halving of even sizes; 4: odd sizes and upscaling; 8: BICUBIC reductions by up
// to 2x), column by column with the weights held in locals while the rows stream by.

function horizontal2(src: RgbImage, y0: number, rows: number, c: Coefficients): Uint8Array {
  const outW = c.start.length;
  const out = new Uint8Array(outW * rows * 3);
  const s = src.data;
  const { start, weights } = c;
  const inRow = src.width * 3;
  const outRow = outW * 3;
  for (let xx = 0; xx < outW; xx++) {
    const w0 = weights[xx * 2];
    const w1 = weights[xx * 2 + 1];
    let p = y0 * inRow + start[xx] * 3;
    for (let yy = 0, o = xx * 3; yy < rows; yy++, p += inRow, o += outRow) {
      out[o] = clip8((HALF + mul(s[p], w0) + mul(s[p + 3], w1)) | 0);
      out[o + 1] = clip8((HALF + mul(s[p + 1], w0) + mul(s[p + 4], w1)) | 0);
      out[o + 2] = clip8((HALF + mul(s[p + 2], w0) + mul(s[p + 5], w1)) | 0);
    }
  }
  return out;
}

function horizontal4(src: RgbImage, y0: number, rows: number, c: Coefficients): Uint8Array {
  const outW = c.start.length;
  const out = new Uint8Array(outW * rows * 3);
  const s = src.data;
  const { start, weights } = c;
  const inRow = src.width * 3;
  const outRow = outW * 3;
  for (let xx = 0; xx < outW; xx++) {
    const k = xx * 4;
    const w0 = weights[k];
    const w1 = weights[k + 1];
    const w2 = weights[k + 2];
    const w3 = weights[k + 3];
    let p = y0 * inRow + start[xx] * 3;
    for (let yy = 0, o = xx * 3; yy < rows; yy++, p += inRow, o += outRow) {
      out[o] = clip8((HALF + mul(s[p], w0) + mul(s[p + 3], w1) + mul(s[p + 6], w2) + mul(s[p + 9], w3)) | 0);
      out[o + 1] = clip8((HALF + mul(s[p + 1], w0) + mul(s[p + 4], w1) + mul(s[p + 7], w2) + mul(s[p + 10], w3)) | 0);
      out[o + 2] = clip8((HALF + mul(s[p + 2], w0) + mul(s[p + 5], w1) + mul(s[p + 8], w2) + mul(s[p + 11], w3)) | 0);
    }
  }
  return out;
}

function horizontal8(src: RgbImage, y0: number, rows: number, c: Coefficients): Uint8Array {
  const outW = c.start.length;
  const out = new Uint8Array(outW * rows * 3);
  const s = src.data;
  const { start, weights } = c;
  const inRow = src.width * 3;
  const outRow = outW * 3;
  for (let xx = 0; xx < outW; xx++) {
    const k = xx * 8;
    const w0 = weights[k];
    const w1 = weights[k + 1];
    const w2 = weights[k + 2];
    const w3 = weights[k + 3];
    const w4 = weights[k + 4];
    const w5 = weights[k + 5];
    const w6 = weights[k + 6];
    const w7 = weights[k + 7];
    let p = y0 * inRow + start[xx] * 3;
    for (let yy = 0, o = xx * 3; yy < rows; yy++, p += inRow, o += outRow) {
      for (let ch = 0; ch < 3; ch++) {
        const q = p + ch;
        out[o + ch] = clip8(
          (HALF +
            mul(s[q], w0) +
            mul(s[q + 3], w1) +
            mul(s[q + 6], w2) +
            mul(s[q + 9], w3) +
            mul(s[q + 12], w4) +
            mul(s[q + 15], w5) +
            mul(s[q + 18], w6) +
            mul(s[q + 21], w7)) |
            0,
        );
      }
    }
  }
  return out;
}

/**
 * Vertical pass over `s` (row stride `srcWidth * 3`), reading `outW` pixels from column `x0`; the source rows
 * of output row `i` start at `c.start[i] - rowShift`. The common tap counts (2, 4, 8) are unrolled; others go
 * through an int32 row accumulator one tap at a time.
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
  const { start, weights, taps } = c;
  const stride = srcWidth * 3;
  const acc = taps === 2 || taps === 4 || taps === 8 ? undefined : new Int32Array(n3);
  for (let yy = 0; yy < outH; yy++) {
    const k = yy * taps;
    const r0 = (start[yy] - rowShift) * stride + x0 * 3;
    const o = yy * n3;
    if (taps === 2) {
      const [w0, w1] = [weights[k], weights[k + 1]];
      const r1 = r0 + stride;
      for (let i = 0; i < n3; i++) out[o + i] = clip8((HALF + mul(s[r0 + i], w0) + mul(s[r1 + i], w1)) | 0);
    } else if (taps === 4) {
      const [w0, w1, w2, w3] = [weights[k], weights[k + 1], weights[k + 2], weights[k + 3]];
      const [r1, r2, r3] = [r0 + stride, r0 + 2 * stride, r0 + 3 * stride];
      for (let i = 0; i < n3; i++) {
        out[o + i] = clip8((HALF + mul(s[r0 + i], w0) + mul(s[r1 + i], w1) + mul(s[r2 + i], w2) + mul(s[r3 + i], w3)) | 0);
      }
    } else if (taps === 8) {
      const [w0, w1, w2, w3] = [weights[k], weights[k + 1], weights[k + 2], weights[k + 3]];
      const [w4, w5, w6, w7] = [weights[k + 4], weights[k + 5], weights[k + 6], weights[k + 7]];
      const [r1, r2, r3, r4] = [r0 + stride, r0 + 2 * stride, r0 + 3 * stride, r0 + 4 * stride];
      const [r5, r6, r7] = [r0 + 5 * stride, r0 + 6 * stride, r0 + 7 * stride];
      for (let i = 0; i < n3; i++) {
        out[o + i] = clip8(
          (HALF +
            mul(s[r0 + i], w0) +
            mul(s[r1 + i], w1) +
            mul(s[r2 + i], w2) +
            mul(s[r3 + i], w3) +
            mul(s[r4 + i], w4) +
            mul(s[r5 + i], w5) +
            mul(s[r6 + i], w6) +
            mul(s[r7 + i], w7)) |
            0,
        );
      }
    } else if (acc) {
      acc.fill(HALF);
      for (let t = 0; t < taps; t++) {
        const r = r0 + t * stride;
        const w = weights[k + t];
        for (let i = 0; i < n3; i++) acc[i] = (acc[i] + mul(s[r + i], w)) | 0;
      }
      for (let i = 0; i < n3; i++) out[o + i] = clip8(acc[i]);
    }
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
  const rowEnd = vert ? vert.start[height - 1] + vert.taps : y + height;

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
