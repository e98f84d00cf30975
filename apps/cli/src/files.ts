import { existsSync, statSync } from 'node:fs';
import { CliError } from './cli-error';

/** Fails with one clear line when an input file is missing or is a folder. */
export function requireFile(path: string, what = 'file'): string {
  if (!existsSync(path)) throw new CliError(`${what} not found: ${path}`);
  if (!statSync(path).isFile()) throw new CliError(`${what} is not a file: ${path}`);
  return path;
}
