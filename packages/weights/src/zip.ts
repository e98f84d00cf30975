import { fail } from './errors';

/** One stored entry of a zip archive: where its bytes are in the archive. */
export interface ZipEntry {
  name: string;
  /** Absolute offset of the entry's data in the archive. */
  offset: number;
  size: number;
  /** Compression method (0 = stored). */
  method: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Lists the entries of a zip archive from its central directory (zip64 included). Only the directory is parsed;
 * entry data are located, not read. Every offset and length is bounds-checked.
 */
export function readZipDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => {
    const hi = u32(at + 4);
    if (hi >= 2 ** 21) fail(source, 'zip: 64-bit field over 2^53');
    return hi * 2 ** 32 + u32(at);
  };
  const eocd = findEocd(bytes, view);
  if (eocd < 0) fail(source, 'zip: end of central directory not found (truncated or not a zip file)');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || u32(locator) !== ZIP64_LOCATOR) fail(source, 'zip: zip64 locator missing');
    const z64 = u64(locator + 8);
    if (z64 + 56 > bytes.length || u32(z64) !== ZIP64_EOCD) fail(source, 'zip: zip64 end of central directory missing');
    count = u64(z64 + 32);
    cdSize = u64(z64 + 40);
    cdOffset = u64(z64 + 48);
  }
  if (cdOffset + cdSize > bytes.length) fail(source, `zip: central directory [${cdOffset}, +${cdSize}] past the end of the file (${bytes.length} bytes)`);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let at = cdOffset;
  const end = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || u32(at) !== CENTRAL) fail(source, `zip: central directory entry ${i} is damaged`);
    const method = u16(at + 10);
    let compressed = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let local = u32(at + 42);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > end) fail(source, `zip: central directory entry ${i} runs past the directory`);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field: the 64-bit values that were saturated, in this order.
    for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength; ) {
      const id = u16(e);
      const len = u16(e + 2);
      if (e + 4 + len > at + 46 + nameLength + extraLength) fail(source, `zip: extra field of "${name}" is damaged`);
      if (id === 0x0001) {
        let p = e + 4;
        const take = () => {
          if (p + 8 > e + 4 + len) fail(source, `zip: zip64 field of "${name}" is too short`);
          const v = u64(p);
          p += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressed === 0xffffffff) compressed = take();
        if (local === 0xffffffff) local = take();
      }
      e += 4 + len;
    }
    if (local + 30 > bytes.length || u32(local) !== LOCAL) fail(source, `zip: local header of "${name}" missing at ${local}`);
    const offset = local + 30 + u16(local + 26) + u16(local + 28);
    if (offset + compressed > bytes.length) {
      fail(source, `zip: data of "${name}" [${offset}, +${compressed}] past the end of the file (${bytes.length} bytes; truncated?)`);
    }
    if (method === 0 && compressed !== size) fail(source, `zip: stored entry "${name}" has sizes ${compressed} and ${size}`);
    entries.set(name, { name, offset, size: compressed, method });
    at = next;
  }
  return entries;
}

function findEocd(bytes: Uint8Array, view: DataView): number {
  const stop = Math.max(0, bytes.length - 22 - 0xffff);
  for (let at = bytes.length - 22; at >= stop; at--) {
    if (view.getUint32(at, true) === EOCD && at + 22 + view.getUint16(at + 20, true) <= bytes.length) return at;
  }
  return -1;
}

/** An entry's bytes (a view into `bytes`); compressed entries are refused. */
export function zipEntryBytes(bytes: Uint8Array, entry: ZipEntry, source: string): Uint8Array {
  if (entry.method !== 0) fail(source, `zip: entry "${entry.name}" is compressed (method ${entry.method}); only stored entries are supported`);
  return bytes.subarray(entry.offset, entry.offset + entry.size);
}
