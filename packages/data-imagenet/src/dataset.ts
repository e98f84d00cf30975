import type { ClassInfo } from './classes';

/** One image of a dataset: where it is and its label index. */
export interface Sample {
  readonly path: string;
  readonly label: number;
}

/** A labelled list of images (what `ImageFolder` holds): samples in a fixed order and the class list. */
export interface ImageDataset {
  /** Where the dataset came from (a folder), for messages. */
  readonly root: string;
  readonly samples: readonly Sample[];
  /** Classes by label index. */
  readonly classes: readonly ClassInfo[];
}

/** Python's string order (by code point), which `sorted()` uses; JS's default sort compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Torchvision's `IMG_EXTENSIONS` (matched case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

/** Whether a file name ends with one of `extensions` (case-insensitive), like `has_file_allowed_extension`. */
export function hasImageExtension(name: string, extensions: readonly string[] = IMAGE_EXTENSIONS): boolean {
  const lower = name.toLowerCase();
  return extensions.some((e) => lower.endsWith(e.toLowerCase()));
}
