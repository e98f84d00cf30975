import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from '../../../tools/testing/fixtures';
import { WeightsFormatError } from './errors';

/** Bytes of a fixture file, in a fresh buffer. */
export function fixtureBytes(file: string): Uint8Array {
  return new Uint8Array(readFileSync(join(fixturesDir(), file)));
}

/** Small seeded PRNG (mulberry32) so fuzz cases are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Applies `count` random corruptions to `bytes` (byte flips, bit flips, truncations, 4-byte overwrites with
 * extreme values) and runs `read` on each; fails on any exception other than WeightsFormatError.
 * `region` limits where flips land (e.g. the header). Returns how many inputs were rejected.
 */
export function fuzz(bytes: Uint8Array, count: number, seed: number, read: (b: Uint8Array) => unknown, region?: [number, number]): number {
  const rand = rng(seed);
  const [lo, hi] = region ?? [0, bytes.length];
  let rejected = 0;
  for (let i = 0; i < count; i++) {
    const kind = rand();
    let b: Uint8Array;
    let what: string;
    if (kind < 0.15) {
      const n = Math.floor(rand() * bytes.length);
      b = bytes.slice(0, n);
      what = `truncated to ${n}`;
    } else {
      b = bytes.slice();
      const flips = 1 + Math.floor(rand() * 4);
      const at: number[] = [];
      for (let f = 0; f < flips; f++) {
        const p = lo + Math.floor(rand() * (hi - lo));
        at.push(p);
        const r = rand();
        if (r < 0.4) b[p] = Math.floor(rand() * 256);
        else if (r < 0.8) b[p] ^= 1 << Math.floor(rand() * 8);
        else {
          const v = [0xff, 0x7f, 0x80, 0x00][Math.floor(rand() * 4)];
          for (let k = 0; k < 4 && p + k < b.length; k++) b[p + k] = v;
        }
      }
      what = `bytes changed at ${at.join(', ')}`;
    }
    try {
      read(b);
    } catch (e) {
      if (e instanceof WeightsFormatError) {
        rejected++;
        continue;
      }
      throw new Error(`fuzz case ${i} (${what}) threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
  }
  return rejected;
}
