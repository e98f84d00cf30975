import type { GeneratedImage } from './generate';

export interface GridOptions {
  /** Images per row (default 4, as sample_svg.py). */
  columns?: number;
  /** Pixels between images (default 2, as torchvision's save_image). */
  padding?: number;
}

/** Lays equally sized RGB images out in a grid (black padding), like torchvision's `save_image(nrow=4)`. */
export function imageGrid(images: GeneratedImage[], options: GridOptions = {}): { width: number; height: number; pixels: Uint8Array } {
  if (images.length === 0) throw new Error('imageGrid: no images');
  const { width: w, height: h } = images[0];
  if (images.some((im) => im.width !== w || im.height !== h)) throw new Error('imageGrid: images differ in size');
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
