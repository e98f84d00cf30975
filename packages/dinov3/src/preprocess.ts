import * as tf from '@tensorflow/tfjs-core';

/** ImageNet mean/std (RGB): normalisation of the LVD-1689M weights (and of SVG's encoder input). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
/** Mean/std of the SAT-493M (satellite) weights. */
export const SAT493M_MEAN = [0.43, 0.411, 0.296] as const;
export const SAT493M_STD = [0.213, 0.156, 0.143] as const;

/** Pixel data as the browser's `ImageData` (RGBA) or any `{data, width, height}` with 3 or 4 channels. */
export interface ImageDataLike {
  data: ArrayLike<number>;
  width: number;
  height: number;
}

export interface PreprocessOptions {
  /**
   * Value range of the input: `uint8` = 0…255, `unit` = [0, 1], `symmetric` = [-1, 1] (SVG's image
   * convention: `x_in = ((x + 1)/2 − mean)/std`). Default: `uint8` for int32 tensors and pixel arrays, `unit` for
   * float tensors.
   */
  range?: 'uint8' | 'unit' | 'symmetric';
  /** Per-channel mean and std (default ImageNet). */
  mean?: readonly number[];
  std?: readonly number[];
}

/**
 * Turns RGB images into the normalised NHWC float32 input of `forwardFeatures`: `(x/255 − mean)/std` (the
 * torchvision `ToDtype(scale=True)` + `Normalize` order) for 0…255 input, `(x − mean)/std` for [0, 1] floats,
 * `((x + 1)/2 − mean)/std` for [-1, 1] input. Accepts `[B, H, W, 3]` / `[H, W, 3]` tensors (int32 = 0…255,
 * float32 = [0, 1] unless `range` says otherwise), `ImageData`-like objects (alpha dropped), or arrays of those.
 * It does not resize: give it images whose sides are multiples of 16 (e.g. 256×256 for SVG).
 */
export function preprocess(images: tf.Tensor | ImageDataLike | ImageDataLike[], options: PreprocessOptions = {}): tf.Tensor4D {
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  return tf.tidy(() => {
    const { pixels, range } = toPixels(images, options.range);
    let x: tf.Tensor = tf.cast(pixels, 'float32');
    if (x.shape[x.rank - 1] !== mean.length) throw new Error(`preprocess: expected ${mean.length} channels, got [${x.shape}]`);
    if (range === 'uint8') x = tf.div(x, 255);
    else if (range === 'symmetric') x = tf.div(tf.add(x, 1), 2);
    x = tf.div(tf.sub(x, tf.tensor1d(mean as number[])), tf.tensor1d(std as number[]));
    return (x.rank === 3 ? tf.expandDims(x, 0) : x) as tf.Tensor4D;
  });
}

function toPixels(images: tf.Tensor | ImageDataLike | ImageDataLike[], range: PreprocessOptions['range']): { pixels: tf.Tensor; range: NonNullable<PreprocessOptions['range']> } {
  if (images instanceof tf.Tensor) {
    if (images.rank !== 3 && images.rank !== 4) throw new Error(`preprocess: expected [H, W, 3] or [B, H, W, 3], got [${images.shape}]`);
    return { pixels: images, range: range ?? (images.dtype === 'float32' ? 'unit' : 'uint8') };
  }
  const list = Array.isArray(images) ? images : [images];
  if (list.length === 0) throw new Error('preprocess: no images');
  const { width, height } = list[0];
  const batch = list.map((img) => {
    if (img.width !== width || img.height !== height) throw new Error(`preprocess: images differ in size (${width}×${height} vs ${img.width}×${img.height})`);
    const channels = img.data.length / (width * height);
    if (channels !== 3 && channels !== 4) throw new Error(`preprocess: ${img.data.length} values do not make a ${width}×${height} RGB or RGBA image`);
    const rgb = new Float32Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      rgb[3 * i] = img.data[channels * i];
      rgb[3 * i + 1] = img.data[channels * i + 1];
      rgb[3 * i + 2] = img.data[channels * i + 2];
    }
    return rgb;
  });
  const all = new Float32Array(batch.length * width * height * 3);
  batch.forEach((b, i) => all.set(b, i * b.length));
  return { pixels: tf.tensor4d(all, [batch.length, height, width, 3]), range: range ?? 'uint8' };
}
