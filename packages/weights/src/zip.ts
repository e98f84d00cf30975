import { fail, WeightsFormatError } from './errors';

/** One entry of a zip archive: where its (possibly compressed) bytes are in the archive, and what they hold. */
export interface ZipEntry {
  name: string;
  /** Absolute offset of the entry's data in the archive. */
  offset: number;
  /** Bytes of the entry's data in the archive (the compressed size). */
  size: number;
  /** Compression method: 0 = stored, 8 = deflated. */
  method: number;
  /** Bytes of the entry once decompressed (equals `size` for stored entries). */
  uncompressedSize: number;
  /** CRC-32 of the uncompressed bytes, from the central directory. */
  crc32: number;
  /** General-purpose flag bits (bit 0: encrypted). */
  flags: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Bytes at the end of an archive that always contain its end-of-central-directory record and zip64 locator. */
export const ZIP_TAIL_BYTES = 22 + 0xffff + 20;
/** Bytes of a zip64 end-of-central-directory record. */
export const ZIP64_EOCD_BYTES = 56;
/** Bytes of a local file header before its name and extra field. */
export const ZIP_LOCAL_HEADER_BYTES = 30;

/** Where the central directory is: its entry count, absolute offset and length. */
export interface ZipCentralDirectory {
  count: number;
  offset: number;
  size: number;
}

/** One central-directory record (before its local header is looked at). */
export interface ZipDirectoryRecord {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Absolute offset of the entry's local header. */
  localOffset: number;
}

function reader(bytes: Uint8Array, source: string) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => {
    const hi = u32(at + 4);
    if (hi >= 2 ** 21) fail(source, 'zip: 64-bit field over 2^53');
    return hi * 2 ** 32 + u32(at);
  };
  return { view, u16, u32, u64 };
}

/**
 * Finds the end-of-central-directory record in the last bytes of an archive (`tail`: the whole archive, or at
 * least its last {@link ZIP_TAIL_BYTES}). Returns the central
 * directory, or for zip64 archives the absolute offset of the zip64 record to read and pass to
 * {@link parseZip64Eocd}.
 */
export function parseZipEocd(tail: Uint8Array, source: string): ZipCentralDirectory | { zip64At: number } {
  const { view, u16, u32, u64 } = reader(tail, source);
  let eocd = -1;
  const stop = Math.max(0, tail.length - 22 - 0xffff);
  for (let at = tail.length - 22; at >= stop; at--) {
    if (view.getUint32(at, true) === EOCD && at + 22 + view.getUint16(at + 20, true) <= tail.length) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail(source, 'zip: end of central directory not found (truncated or not a zip file)');
  const count = u16(eocd + 10);
  const size = u32(eocd + 12);
  const offset = u32(eocd + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || u32(locator) !== ZIP64_LOCATOR) fail(source, 'zip: zip64 locator missing');
    return { zip64At: u64(locator + 8) };
  }
  return { count, offset, size };
}

/** Decodes the {@link ZIP64_EOCD_BYTES} bytes of a zip64 end-of-central-directory record. */
export function parseZip64Eocd(record: Uint8Array, source: string): ZipCentralDirectory {
  const { u32, u64 } = reader(record, source);
  if (record.length < ZIP64_EOCD_BYTES || u32(0) !== ZIP64_EOCD) fail(source, 'zip: zip64 end of central directory missing');
  return { count: u64(32), size: u64(40), offset: u64(48) };
}

/** Decodes the `count` records of a central directory (`cd`: its bytes). */
export function parseZipCentralDirectory(cd: Uint8Array, count: number, source: string): ZipDirectoryRecord[] {
  const { u16, u32, u64 } = reader(cd, source);
  const records: ZipDirectoryRecord[] = [];
  const decoder = new TextDecoder();
  const end = cd.length;
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || u32(at) !== CENTRAL) fail(source, `zip: central directory entry ${i} is damaged`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const crc32 = u32(at + 16);
    let compressedSize = u32(at + 20);
    let uncompressedSize = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let localOffset = u32(at + 42);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > end) fail(source, `zip: central directory entry ${i} runs past the directory`);
    const name = decoder.decode(cd.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field: the 64-bit values that were saturated, in this order.
    const extraEnd = at + 46 + nameLength + extraLength;
    for (let e = at + 46 + nameLength; e + 4 <= extraEnd; ) {
      const id = u16(e);
      const len = u16(e + 2);
      if (e + 4 + len > extraEnd) fail(source, `zip: extra field of "${name}" is damaged`);
      if (id === 0x0001) {
        let p = e + 4;
        const take = () => {
          if (p + 8 > e + 4 + len) fail(source, `zip: zip64 field of "${name}" is too short`);
          const v = u64(p);
          p += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      e += 4 + len;
    }
    records.push({ name, method, flags, crc32, compressedSize, uncompressedSize, localOffset });
    at = next;
  }
  return records;
}

/**
 * Turns a central-directory record into an entry, given the first {@link ZIP_LOCAL_HEADER_BYTES} bytes of its
 * local header (`local`), in an archive of `archiveSize` bytes. Checks the local header and every bound.
 */
export function zipEntryFromRecord(record: ZipDirectoryRecord, local: Uint8Array, archiveSize: number, source: string): ZipEntry {
  const { name, localOffset, compressedSize, uncompressedSize, method } = record;
  if (local.length < ZIP_LOCAL_HEADER_BYTES || localOffset + ZIP_LOCAL_HEADER_BYTES > archiveSize) {
    fail(source, `zip: local header of "${name}" missing at ${localOffset}`);
  }
  const { u16, u32 } = reader(local, source);
  if (u32(0) !== LOCAL) fail(source, `zip: local header of "${name}" missing at ${localOffset}`);
  const offset = localOffset + ZIP_LOCAL_HEADER_BYTES + u16(26) + u16(28);
  if (offset + compressedSize > archiveSize) {
    fail(source, `zip: data of "${name}" [${offset}, +${compressedSize}] past the end of the file (${archiveSize} bytes; truncated?)`);
  }
  if (method === 0 && compressedSize !== uncompressedSize) {
    fail(source, `zip: stored entry "${name}" has sizes ${compressedSize} and ${uncompressedSize}`);
  }
  return { name, offset, size: compressedSize, method, uncompressedSize, crc32: record.crc32, flags: record.flags };
}

/**
 * Lists the entries of a zip archive from its central directory (zip64 included). Only the directory is parsed;
 * entry data are located, not read. Every offset and length is bounds-checked.
 */
export function readZipDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const tailStart = Math.max(0, bytes.length - ZIP_TAIL_BYTES);
  let cd = parseZipEocd(bytes.subarray(tailStart), source);
  if ('zip64At' in cd) {
    if (cd.zip64At + ZIP64_EOCD_BYTES > bytes.length) fail(source, 'zip: zip64 end of central directory missing');
    cd = parseZip64Eocd(bytes.subarray(cd.zip64At, cd.zip64At + ZIP64_EOCD_BYTES), source);
  }
  checkCentralDirectory(cd, bytes.length, source);
  const entries = new Map<string, ZipEntry>();
  for (const record of parseZipCentralDirectory(bytes.subarray(cd.offset, cd.offset + cd.size), cd.count, source)) {
    const local = bytes.subarray(record.localOffset, record.localOffset + ZIP_LOCAL_HEADER_BYTES);
    entries.set(record.name, zipEntryFromRecord(record, local, bytes.length, source));
  }
  return entries;
}

/** Throws unless the central directory lies inside an archive of `archiveSize` bytes. */
export function checkCentralDirectory(cd: ZipCentralDirectory, archiveSize: number, source: string): void {
  if (cd.offset + cd.size > archiveSize) {
    fail(source, `zip: central directory [${cd.offset}, +${cd.size}] past the end of the file (${archiveSize} bytes)`);
  }
}

/** An entry's bytes (a view into `bytes`); compressed entries are refused (see {@link readZipEntry}). */
export function zipEntryBytes(bytes: Uint8Array, entry: ZipEntry, source: string): Uint8Array {
  if (entry.method !== 0) fail(source, `zip: entry "${entry.name}" is compressed (method ${entry.method}); only stored entries are supported`);
  return bytes.subarray(entry.offset, entry.offset + entry.size);
}

/**
 * An entry's uncompressed bytes: a view into `bytes` for stored entries, a fresh buffer for deflated ones
 * (inflated with the web-standard `DecompressionStream('deflate-raw')`). The size is always checked, the CRC-32
 * unless `checkCrc` is false.
 */
export async function readZipEntry(bytes: Uint8Array, entry: ZipEntry, source: string, checkCrc = true): Promise<Uint8Array> {
  checkZipMethod(entry, source);
  const raw = bytes.subarray(entry.offset, entry.offset + entry.size);
  if (entry.method === 0) {
    if (checkCrc) checkZipCrc(entry, crc32(raw), source);
    return raw;
  }
  const cursor = new ZipEntryCursor(entry, chunkStream(raw), source, checkCrc);
  const out = await cursor.read(entry.uncompressedSize);
  await cursor.finish();
  return out;
}

/** Throws unless the entry is stored or deflated and not encrypted. */
export function checkZipMethod(entry: ZipEntry, source: string): void {
  if (entry.flags & 1) fail(source, `zip: entry "${entry.name}" is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) {
    fail(source, `zip: entry "${entry.name}" uses compression method ${entry.method}; only stored (0) and deflated (8) are supported`);
  }
  // Deflate expands at most ~1032:1; a larger claim is a damaged directory (and would be a huge allocation).
  if (entry.method === 8 && entry.uncompressedSize > entry.size * 1032 + 1024) {
    fail(source, `zip: entry "${entry.name}" claims ${entry.uncompressedSize} bytes from ${entry.size} deflated bytes (damaged directory)`);
  }
}

function checkZipCrc(entry: ZipEntry, crc: number, source: string): void {
  if (crc !== entry.crc32) {
    fail(source, `zip: CRC-32 mismatch in "${entry.name}" (0x${hex(crc)}, the directory says 0x${hex(entry.crc32)}): data are corrupt`);
  }
}

const hex = (x: number) => x.toString(16).padStart(8, '0');

/** A pull-based stream of `bytes` in pieces of `chunk` bytes (views, no copy). */
export function chunkStream(bytes: Uint8Array, chunk = 1 << 20): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (at >= bytes.length) {
          controller.close();
          return;
        }
        const n = Math.min(chunk, bytes.length - at);
        controller.enqueue(bytes.subarray(at, at + n));
        at += n;
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Sequential reader of one zip entry's uncompressed bytes, from a stream of the entry's raw (stored or deflated)
 * bytes: exact-length reads and skips, with the size and (unless disabled) the CRC-32 checked by {@link finish}.
 * Memory use is one chunk plus what {@link read} returns, so entries of any size can be streamed.
 */
export class ZipEntryCursor {
  /** Uncompressed bytes consumed so far. */
  position = 0;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private at = 0;
  private produced = 0;
  private crc = 0;
  private done = false;

  constructor(
    readonly entry: ZipEntry,
    raw: ReadableStream<Uint8Array>,
    private readonly source: string,
    private readonly checkCrc = true,
  ) {
    checkZipMethod(entry, source);
    const stream = entry.method === 8 ? raw.pipeThrough(inflateRaw()) : raw;
    this.reader = stream.getReader();
  }

  private async next(): Promise<boolean> {
    if (this.done) return false;
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.reader.read();
    } catch (e) {
      if (e instanceof WeightsFormatError) throw e;
      fail(this.source, `zip: deflated data of "${this.entry.name}" are corrupt (${(e as Error).message ?? e})`);
    }
    if (result.done) {
      this.done = true;
      return false;
    }
    const chunk = result.value;
    this.produced += chunk.length;
    if (this.produced > this.entry.uncompressedSize) {
      fail(this.source, `zip: "${this.entry.name}" inflates past its declared size of ${this.entry.uncompressedSize} bytes`);
    }
    if (this.checkCrc) this.crc = crc32(chunk, this.crc);
    this.chunk = chunk;
    this.at = 0;
    return true;
  }

  private truncated(want: number): never {
    fail(this.source, `zip: "${this.entry.name}" ends after ${this.produced} of ${this.entry.uncompressedSize} bytes (wanted ${want} at ${this.position}; truncated data)`);
  }

  /** The next `n` bytes, in a fresh buffer. */
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (this.at === this.chunk.length && !(await this.next())) this.truncated(n);
      const take = Math.min(n - filled, this.chunk.length - this.at);
      out.set(this.chunk.subarray(this.at, this.at + take), filled);
      this.at += take;
      filled += take;
    }
    this.position += n;
    return out;
  }

  /** Skips `n` bytes. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.at === this.chunk.length && !(await this.next())) this.truncated(n);
      const take = Math.min(left, this.chunk.length - this.at);
      this.at += take;
      left -= take;
    }
    this.position += n;
  }

  /** Reads to the end of the entry and checks its size and CRC-32; throws {@link WeightsFormatError} if wrong. */
  async finish(): Promise<void> {
    while (await this.next());
    if (this.produced !== this.entry.uncompressedSize) {
      fail(this.source, `zip: "${this.entry.name}" holds ${this.produced} bytes, the directory says ${this.entry.uncompressedSize} (truncated or corrupt)`);
    }
    if (this.checkCrc) checkZipCrc(this.entry, this.crc, this.source);
  }

  /** Stops reading (releases the underlying stream). */
  async cancel(): Promise<void> {
    this.done = true;
    await this.reader.cancel().catch(() => undefined);
  }
}

/** A web-standard raw-deflate decompressor (Node 20.12+ / 21.2+, Chrome 103+, Firefox 113+, Safari 16.4+). */
function inflateRaw(): ReadableWritablePair<Uint8Array, Uint8Array> {
  try {
    return new DecompressionStream('deflate-raw') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
  } catch (e) {
    throw new Error(`@svg/weights: reading deflated zip entries needs DecompressionStream('deflate-raw') (Node 20.12+, current browsers): ${(e as Error).message ?? e}`);
  }
}

let CRC_TABLES: Int32Array | undefined;
function crcTables(): Int32Array {
  if (!CRC_TABLES) {
    const t = new Int32Array(256 * 8);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[i] = c;
    }
    for (let s = 1; s < 8; s++) {
      for (let i = 0; i < 256; i++) t[s * 256 + i] = (t[(s - 1) * 256 + i] >>> 8) ^ t[t[(s - 1) * 256 + i] & 0xff];
    }
    CRC_TABLES = t;
  }
  return CRC_TABLES;
}

/**
 * CRC-32 (zip / PNG polynomial) of `bytes`, continuing from the CRC `crc` of the bytes before (0 to start).
 *
 * @example
 * crc32(new TextEncoder().encode('123456789')).toString(16); // 'cbf43926'
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = crcTables();
  let c = ~crc;
  let i = 0;
  const n = bytes.length;
  for (; i + 8 <= n; i += 8) {
    const a = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      t[1792 + (a & 0xff)] ^
      t[1536 + ((a >>> 8) & 0xff)] ^
      t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
