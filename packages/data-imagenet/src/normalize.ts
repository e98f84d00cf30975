import type { RgbImage } from './image';

/** ImageNet per-channel mean (RGB), as torchvision `Normalize` in SVG's `setup_data`. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet per-channel standard deviation (RGB). */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/**
 * How pixels become numbers:
 * - `imagenet`: `ToTensor()` + `Normalize(IMAGENET_MEAN, IMAGENET_STD)` in float32 — the DiT training input
 *   (spec §5.3) and the autoencoder's `x_in`;
 * - `signed`: `v / 127.5 − 1` (computed in float64, stored as float32, like the ldm ImageNet datasets) — the
 *   autoencoder's `[-1, 1]` image `x`;
 * - `unit`: `ToTensor()` alone, `v / 255`.
 */
export type Normalization = 'imagenet' | 'signed' | 'unit';

/** Memory layout of a float image batch: `nchw` (PyTorch's) or `nhwc` (tfjs convolutions'). */
export type Layout = 'nchw' | 'nhwc';

const f32 = Math.fround;

/** The 3×256 table `value[c * 256 + v]` of a normalisation, with PyTorch's float32 rounding at each step. */
function buildTable(normalization: Normalization): Float32Array {
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = f32(IMAGENET_MEAN[c]);
    const std = f32(IMAGENET_STD[c]);
    for (let v = 0; v < 256; v++) {
      const unit = f32(v / 255);
      t[c * 256 + v] =
        normalization === 'imagenet' ? f32(f32(unit - mean) / std) : normalization === 'signed' ? v / 127.5 - 1 : unit;
    }
  }
  return t;
}

const TABLES = new Map<Normalization, Float32Array>();

function table(normalization: Normalization): Float32Array {
  let t = TABLES.get(normalization);
  if (!t) {
    if (normalization !== 'imagenet' && normalization !== 'signed' && normalization !== 'unit') {
      throw new Error(`unknown normalization "${String(normalization)}" (expected imagenet, signed or unit)`);
    }
    t = buildTable(normalization);
    TABLES.set(normalization, t);
  }
  return t;
}

/**
 * Writes one RGB image as normalised float32 into `out` starting at element `offset` (a whole `3·H·W` slot),
 * optionally mirrored left-right, in the given layout. Flip and normalisation happen in one pass.
 */
export function writeNormalized(
  img: RgbImage,
  out: Float32Array,
  offset: number,
  options: { normalization: Normalization; layout: Layout; flip?: boolean },
): void {
  const { width, height, data } = img;
  const hw = width * height;
  if (offset < 0 || offset + 3 * hw > out.length) {
    throw new Error(`output slot [${offset}, ${offset + 3 * hw}) lies outside a buffer of ${out.length} floats`);
  }
  const t = table(options.normalization);
  const flip = options.flip ?? false;
  const nchw = options.layout === 'nchw';
  if (!nchw && options.layout !== 'nhwc') throw new Error(`unknown layout "${String(options.layout)}" (expected nchw or nhwc)`);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + (flip ? width - 1 - x : x)) * 3;
      const p = y * width + x;
      if (nchw) {
        out[offset + p] = t[data[s]];
        out[offset + hw + p] = t[256 + data[s + 1]];
        out[offset + 2 * hw + p] = t[512 + data[s + 2]];
      } else {
        const o = offset + p * 3;
        out[o] = t[data[s]];
        out[o + 1] = t[256 + data[s + 1]];
        out[o + 2] = t[512 + data[s + 2]];
      }
    }
  }
}

/** Normalises one RGB image into a new float32 array of `3·H·W` values (see {@link writeNormalized}). */
export function normalizeImage(
  img: RgbImage,
  options: { normalization: Normalization; layout?: Layout; flip?: boolean },
): Float32Array {
  const out = new Float32Array(img.width * img.height * 3);
  writeNormalized(img, out, 0, { layout: 'nchw', ...options });
  return out;
}

/**
 * The autoencoder's `x_in` from its `[-1, 1]` input (`DinoDecoder.get_input`, spec §1.2):
 * `((x + 1) / 2 − mean) / std` per channel, in float32, for a batch in the given layout.
 */
export function signedToImagenet(x: Float32Array, shape: readonly number[], layout: Layout = 'nchw'): Float32Array {
  if (shape.length !== 4) throw new Error(`expected a 4-d image batch shape, got [${shape.join(', ')}]`);
  const channelAxis = layout === 'nchw' ? 1 : 3;
  if (shape[channelAxis] !== 3) throw new Error(`expected 3 channels on axis ${channelAxis}, got [${shape.join(', ')}]`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (x.length !== size) throw new Error(`buffer of ${x.length} floats does not match shape [${shape.join(', ')}]`);
  const hw = layout === 'nchw' ? shape[2] * shape[3] : 1;
  const out = new Float32Array(size);
  const mean = IMAGENET_MEAN.map(f32);
  const std = IMAGENET_STD.map(f32);
  for (let i = 0; i < size; i++) {
    const c = layout === 'nchw' ? Math.floor(i / hw) % 3 : i % 3;
    out[i] = f32(f32(f32(f32(x[i] + 1) / 2) - mean[c]) / std[c]);
  }
  return out;
}
