import type { RgbImage } from './image';
import { resizePillow } from './resample';

/** Python's `round()` on a double: round half to even. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The ADM `center_crop_arr(pil_image, size)` used by SVG's DiT training (spec §5.3), bit-exact with Pillow:
 * while the short side is ≥ 2·size, halve both sides (`W div 2`, `H div 2`) with a BOX filter; then BICUBIC
 * resize so the short side becomes `size` (long side `round(L · size / S)`, Python rounding); then take the
 * centre `size × size` crop at offsets `((H − size) div 2, (W − size) div 2)`. Only the cropped part of the
 * bicubic resize is computed.
 */
export function centerCropArr(img: RgbImage, size: number): RgbImage {
  if (!Number.isInteger(size) || size < 1) throw new Error(`crop size must be a positive integer, got ${size}`);
  let cur = img;
  while (Math.min(cur.width, cur.height) >= 2 * size) {
    cur = resizePillow(cur, Math.floor(cur.width / 2), Math.floor(cur.height / 2), 'box');
  }
  const scale = size / Math.min(cur.width, cur.height);
  const w = roundHalfEven(cur.width * scale);
  const h = roundHalfEven(cur.height * scale);
  const x = Math.floor((w - size) / 2);
  const y = Math.floor((h - size) / 2);
  return resizePillow(cur, w, h, 'bicubic', { x, y, width: size, height: size });
}
