import type { GeneratedImage } from './generate';

export interface GridOptions {
  /** Images per row (default 4, as sample_svg.py). */
  columns?: number;
  /** Pixels between images (default 2, as torchvision's save_image). */
  padding?: number;
  /** Enlarge every image this many times, nearest neighbour (default 1), e.g. to look at 32×32 samples. */
  scale?: number;
}

/** Lays equally sized RGB images out in a grid (black padding), like torchvision's `save_image(nrow=4)`. */
export function imageGrid(images: GeneratedImage[], options: GridOptions = {}): { width: number; height: number; pixels: Uint8Array } {
  if (images.length === 0) throw new Error('imageGrid: no images');
  if (images.some((im) => im.width !== images[0].width || im.height !== images[0].height)) throw new Error('imageGrid: images differ in size');
  const scale = options.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`imageGrid: scale must be a positive integer, got ${scale}`);
  if (scale > 1) images = images.map((im) => enlarge(im, scale));
  const { width: w, height: h } = images[0];
  const columns = Math.min(options.columns ?? 4, images.length);
  const pad = options.padding ?? 2;
  const rows = Math.ceil(images.length / columns);
  const width = columns * (w + pad) + pad;
  const height = rows * (h + pad) + pad;
  const pixels = new Uint8Array(width * height * 3);
  images.forEach((im, i) => {
    const x0 = pad + (i % columns) * (w + pad);
    const y0 = pad + Math.floor(i / columns) * (h + pad);
    for (let y = 0; y < h; y++) pixels.set(im.pixels.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * width + x0) * 3);
  });
  return { width, height, pixels };
}

function enlarge(im: GeneratedImage, k: number): GeneratedImage {
  const width = im.width * k;
  const height = im.height * k;
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = (Math.floor(y / k) * im.width + Math.floor(x / k)) * 3;
      pixels.set(im.pixels.subarray(src, src + 3), (y * width + x) * 3);
    }
  }
  return { ...im, width, height, pixels };
}
