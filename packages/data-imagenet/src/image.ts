/** An 8-bit RGB image, pixels row-major and interleaved (`data[(y * width + x) * 3 + c]`). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Makes an {@link RgbImage}, checking that `data` holds exactly `width * height * 3` bytes. */
export function rgbImage(width: number, height: number, data: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`image size must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(`RGB image ${width}x${height} needs ${width * height * 3} bytes, got ${data.length}`);
  }
  return { width, height, data };
}

/**
 * Converts decoded pixels with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA, or CMYK when `cmyk`) interleaved
 * channels to RGB exactly as Pillow's `Image.convert('RGB')` does: grey is replicated, alpha is dropped (not
 * composited), and CMYK uses Pillow's formula `R = 255 - K - C·(255 - K)/255` (rounded the way Pillow rounds).
 */
export function toRgb(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  channels: number,
  cmyk = false,
): RgbImage {
  const n = width * height;
  if (data.length < n * channels) {
    throw new Error(`decoded buffer too small: ${data.length} bytes for ${width}x${height}x${channels}`);
  }
  if (channels === 3 && data instanceof Uint8Array && data.length === n * 3) return rgbImage(width, height, data);
  const out = new Uint8Array(n * 3);
  if (cmyk) {
    if (channels !== 4) throw new Error(`CMYK image must have 4 channels, got ${channels}`);
    for (let i = 0, p = 0, o = 0; i < n; i++, p += 4, o += 3) {
      const nk = 255 - data[p + 3];
      out[o] = cmykChannel(data[p], nk);
      out[o + 1] = cmykChannel(data[p + 1], nk);
      out[o + 2] = cmykChannel(data[p + 2], nk);
    }
  } else if (channels === 1 || channels === 2) {
    for (let i = 0, p = 0, o = 0; i < n; i++, p += channels, o += 3) {
      const v = data[p];
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
  } else if (channels === 3 || channels === 4) {
    for (let i = 0, p = 0, o = 0; i < n; i++, p += channels, o += 3) {
      out[o] = data[p];
      out[o + 1] = data[p + 1];
      out[o + 2] = data[p + 2];
    }
  } else {
    throw new Error(`cannot convert an image with ${channels} channels to RGB`);
  }
  return rgbImage(width, height, out);
}

/** Pillow `cmyk2rgb`: `nk - MULDIV255(c, nk)`, clipped to 0..255. */
function cmykChannel(c: number, nk: number): number {
  const t = c * nk + 128;
  const v = nk - (((t >> 8) + t) >> 8);
  return v < 0 ? 0 : v;
}

/** Mirrors an image left-right (a new image; the input is not modified). */
export function flipHorizontal(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  const row = width * 3;
  for (let y = 0; y < height; y++) {
    const base = y * row;
    for (let x = 0; x < width; x++) {
      const s = base + x * 3;
      const d = base + (width - 1 - x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return rgbImage(width, height, out);
}
