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

/** Correctly rounded sum of float64 values (Shewchuk's algorithm, as Python's math.fsum). */
export function fsum(values: Iterable<number>): number {
  const partials: number[] = [];
  for (let x of values) {
    let i = 0;
    for (let y of partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n];
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n];
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/**
 * A zip archive of stored (uncompressed) entries; CRCs are left zero (the reader does not check them). With
 * `zip64`, offsets and counts go through the zip64 records and extra fields, as for archives over 4 GiB.
 */
export function makeZip(files: [string, Uint8Array][], zip64 = false): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = enc.encode(name);
    const local = new Uint8Array(30 + n.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    const extra = zip64 ? 4 + 8 : 0;
    const c = new Uint8Array(46 + n.length + extra);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint16(30, extra, true);
    cv.setUint32(42, zip64 ? 0xffffffff : offset, true);
    c.set(n, 46);
    if (zip64) {
      cv.setUint16(46 + n.length, 0x0001, true);
      cv.setUint16(48 + n.length, 8, true);
      cv.setBigUint64(50 + n.length, BigInt(offset), true);
    }
    central.push(c);
    chunks.push(local, data);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const z64 = new Uint8Array(zip64 ? 56 + 20 : 0);
  if (zip64) {
    const zv = new DataView(z64.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setBigUint64(24, BigInt(files.length), true);
    zv.setBigUint64(32, BigInt(files.length), true);
    zv.setBigUint64(40, BigInt(cdSize), true);
    zv.setBigUint64(48, BigInt(offset), true);
    zv.setUint32(56, 0x07064b50, true);
    zv.setBigUint64(64, BigInt(offset + cdSize), true);
    zv.setUint32(72, 1, true);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : files.length, true);
  ev.setUint16(10, zip64 ? 0xffff : files.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : offset, true);
  const all = [...chunks, ...central, z64, eocd];
  const out = new Uint8Array(all.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of all) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Bytes of a pickle given as opcode strings (each char one byte) and byte arrays. */
export function pickleBytes(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    if (typeof p === 'string') for (let i = 0; i < p.length; i++) out[at++] = p.charCodeAt(i);
    else {
      out.set(p, at);
      at += p.length;
    }
  }
  return out;
}

/** A `torch.save` zip archive around a data.pkl and storages (`archive/data/<key>`). */
export function torchZipBytes(pkl: Uint8Array, storages: [string, Uint8Array][] = []): Uint8Array {
  return makeZip([
    ['archive/data.pkl', pkl],
    ...storages.map(([k, v]) => [`archive/data/${k}`, v] as [string, Uint8Array]),
    ['archive/version', new TextEncoder().encode('3\n')],
  ]);
}

/** Little-endian int32 bytes. */
export function int32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
