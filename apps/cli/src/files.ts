import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { CliError } from './cli-error';

/** Fails with one clear line when an input file is missing or is a folder. */
export function requireFile(path: string, what = 'file'): string {
  if (!existsSync(path)) throw new CliError(`${what} not found: ${path}`);
  if (!statSync(path).isFile()) throw new CliError(`${what} is not a file: ${path}`);
  return path;
}

/** Names that are image files, not folders (a folder option mistaken for a file one). */
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp', '.tif', '.tiff', '.avif']);

/** Fails up front when an output file option does not end in the extension of what is written there. */
export function requireOutputExtension(path: string, ext: string, option: string, what: string): string {
  if (extname(path).toLowerCase() !== ext) throw new CliError(`--${option} must name a ${ext} file (${what}), got "${path}"`);
  return path;
}

/** Fails up front when an output folder option is named like an image file. */
export function requireFolderName(path: string, option: string): string {
  if (IMAGE_EXTENSIONS.has(extname(path).toLowerCase())) throw new CliError(`--${option} names a folder (one .png per image is written into it), got "${path}"`);
  return path;
}
