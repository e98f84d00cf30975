import type { Options } from 'tsup';

/** Build options every package shares: ESM + CJS + .d.ts from src/index.ts (plus extra entries). */
export function packageOptions(extra: Partial<Options> = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    ...extra,
  };
}
