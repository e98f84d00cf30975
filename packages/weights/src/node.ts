/**
 * Node-only file helpers (`@svg/weights/node`). The main entry stays free of `node:fs` for browsers.
 */
import { kMaxLength } from 'node:buffer';
import { type FileHandle, open } from 'node:fs/promises';
import { type DType, type RawTensor, convertTensor, numel, typedView } from './dtypes';
import { fail } from './errors';
import { type NpzMember, type ReadNpzOptions, decodeNpyData, npzMemberHeader, npzMemberInfo, readNpy, selectNpzEntries } from './npz';
import {
  type ReadSafetensorsOptions,
  type Safetensors,
  type SafetensorsHeader,
  type SafetensorsEntry,
  nameFilter,
  parseSafetensorsHeader,
  safetensorsHeaderLength,
  safetensorsLayout,
  tensorBytes,
} from './safetensors';
import type { StateDictLike } from './state-dict';
import { type ReadTorchOptions, readCheckpoint } from './torch';
import { writeFileAtomic } from './write-atomic';

export { writeFileAtomic } from './write-atomic';
export { type NpyArraySpec, type NpzWriterOptions, NpzFileWriter, npyHeader } from './npz-writer';
import {
  type ZipEntry,
  ZIP64_EOCD_BYTES,
  ZIP_LOCAL_HEADER_BYTES,
  ZIP_TAIL_BYTES,
  ZipEntryCursor,
  checkCentralDirectory,
  checkZipMethod,
  crc32,
  parseZip64Eocd,
  parseZipCentralDirectory,
  parseZipEocd,
  zipEntryFromRecord,
} from './zip';

/** Options of {@link readSafetensorsFile}: like {@link ReadSafetensorsOptions}, the source defaults to the path. */
export type ReadSafetensorsFileOptions = ReadSafetensorsOptions;

/** Ranges closer than this are read in one go (skipping a small gap is cheaper than another read call). */
const MERGE_GAP = 1 << 16;
/** Bytes per read or write call (fs calls are limited to 2 GiB; 64 MiB keeps the thread pool responsive). */
const READ_CHUNK = 1 << 26;

/**
 * Reads only the header of a safetensors file (tensor names, dtypes, shapes, byte ranges, metadata), e.g. to index
 * large files. Throws {@link WeightsFormatError} (naming the path) for malformed files.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    return await readHeader(fh, path);
  } finally {
    await fh.close();
  }
}

async function readHeader(fh: Handle, source: string): Promise<SafetensorsHeader> {
  const size = (await fh.stat()).size;
  const first8 = await readRange(fh, 0, Math.min(8, size), source);
  const headerLength = safetensorsHeaderLength(first8, size, source);
  return parseSafetensorsHeader(await readRange(fh, 8, headerLength, source), size, source);
}

/**
 * Reads a safetensors file: the header first, then only the byte ranges of the requested tensors (`names`), each
 * run of neighbouring tensors in one read into a fresh buffer that its tensors view without copying.
 * Throws {@link WeightsFormatError} (naming the path) for malformed files.
 */
export async function readSafetensorsFile(path: string, options: ReadSafetensorsFileOptions = {}): Promise<Safetensors> {
  const source = options.source ?? path;
  const fh = await open(path, 'r');
  try {
    const header = await readHeader(fh, source);
    const wanted = nameFilter(options.names);
    const selected = header.entries.filter((e) => wanted(e.name));
    const tensors = new Map<string, RawTensor>();
    const byStart = [...selected].sort((a, b) => a.begin - b.begin);
    const data = new Map<string, RawTensor>();
    for (const run of groupRuns(byStart)) {
      const start = run[0].begin;
      let end = start;
      for (const e of run) if (e.end > end) end = e.end;
      const bytes = await readRange(fh, header.dataStart + start, end - start, source);
      for (const e of run) {
        const raw: RawTensor = { dtype: e.dtype, shape: e.shape, data: typedView(e.dtype, bytes, e.begin - start, numel(e.shape)) };
        data.set(e.name, options.convert ? convertTensor(raw, `${source}: tensor "${e.name}"`) : raw);
      }
    }
    for (const e of selected) tensors.set(e.name, data.get(e.name)!);
    return { tensors, metadata: header.metadata };
  } finally {
    await fh.close();
  }
}

function groupRuns(entries: SafetensorsEntry[]): SafetensorsEntry[][] {
  const runs: SafetensorsEntry[][] = [];
  let end = -Infinity;
  for (const e of entries) {
    if (runs.length > 0 && e.begin - end <= MERGE_GAP) {
      runs[runs.length - 1].push(e);
      end = Math.max(end, e.end);
    } else {
      runs.push([e]);
      end = e.end;
    }
  }
  return runs;
}

type Handle = FileHandle;

/** Reads exactly `length` bytes at `position` into a fresh (8-byte aligned) buffer. */
async function readRange(fh: Handle, position: number, length: number, source = 'file'): Promise<Uint8Array> {
  let out: Uint8Array;
  try {
    out = new Uint8Array(length);
  } catch (e) {
    if (e instanceof RangeError) fail(source, `cannot allocate ${length} bytes to read (${e.message.slice(0, 200)})`);
    throw e;
  }
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, Math.min(READ_CHUNK, length - done), position + done);
    if (bytesRead === 0) fail(source, `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
  return out;
}

/**
 * Writes tensors as a canonical safetensors file (see `writeSafetensors`), atomically: into a temporary file in
 * the same directory, then renamed over `path`, so readers never see a partial file.
 */
export async function writeSafetensorsFile(path: string, tensors: StateDictLike, metadata: Record<string, string> = {}): Promise<void> {
  const layout = safetensorsLayout(tensors, metadata);
  await writeFileAtomic(path, async (fh) => {
    await writeAll(fh, layout.header);
    for (const e of layout.entries) await writeAll(fh, tensorBytes(e.tensor));
  });
}

async function writeAll(fh: Handle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(READ_CHUNK, bytes.length - done));
    done += bytesWritten;
  }
}


/**
 * Reads a checkpoint file of any supported kind, judged by content: torch zip (`.pt`, `.pth`, `.ckpt`), torch
 * legacy pickle, or safetensors (returned as its `Map` of tensors). See `readTorchCheckpoint` for the value mapping;
 * `options.maxMaterializedBytes` raises the copy budget (see `ReadTorchOptions`). Files of 4 GiB or more are
 * refused with a `WeightsFormatError` (they do not fit one buffer).
 *
 * @example
 * const sd = findStateDict(await readCheckpointFile('last.ckpt'));
 */
export async function readCheckpointFile(path: string, options: ReadTorchOptions = {}): Promise<unknown> {
  const source = options.source ?? path;
  const fh = await open(path, 'r');
  let bytes: Uint8Array;
  try {
    const size = (await fh.stat()).size;
    if (size > MAX_IN_MEMORY) {
      fail(source, `file of ${size} bytes is too large to read into memory (at most ${MAX_IN_MEMORY} bytes, 4 GiB, in one buffer)`);
    }
    bytes = await readRange(fh, 0, size, source);
  } finally {
    await fh.close();
  }
  return readCheckpoint(bytes, { ...options, source });
}

/** Largest file read whole into one buffer: JavaScript engines cap a buffer at 4 GiB or near it. */
const MAX_IN_MEMORY = Math.min(2 ** 32 - 1, kMaxLength);

// ---------------------------------------------------------------------------------------------------------------
// .npz files

/** Bytes per read when streaming a zip entry from a file. */
const STREAM_CHUNK = 1 << 22;

/** Reads the zip directory of an open file: its tail, the central directory and each local header. */
async function readZipDirectoryFile(fh: Handle, size: number, source: string): Promise<Map<string, ZipEntry>> {
  const tailStart = Math.max(0, size - ZIP_TAIL_BYTES);
  let cd = parseZipEocd(await readRange(fh, tailStart, size - tailStart, source), source);
  if ('zip64At' in cd) {
    if (cd.zip64At + ZIP64_EOCD_BYTES > size) fail(source, 'zip: zip64 end of central directory missing');
    cd = parseZip64Eocd(await readRange(fh, cd.zip64At, ZIP64_EOCD_BYTES, source), source);
  }
  checkCentralDirectory(cd, size, source);
  const entries = new Map<string, ZipEntry>();
  for (const record of parseZipCentralDirectory(await readRange(fh, cd.offset, cd.size, source), cd.count, source)) {
    const n = Math.max(0, Math.min(ZIP_LOCAL_HEADER_BYTES, size - record.localOffset));
    const local = await readRange(fh, record.localOffset, n, source);
    entries.set(record.name, zipEntryFromRecord(record, local, size, source));
  }
  return entries;
}

/** A pull-based stream of the file bytes [start, start + length), in {@link STREAM_CHUNK} pieces. */
function fileRangeStream(fh: Handle, start: number, length: number, source: string, chunk = STREAM_CHUNK): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (at >= length) {
          controller.close();
          return;
        }
        const n = Math.min(chunk, length - at);
        const bytes = await readRange(fh, start + at, n, source);
        at += n;
        controller.enqueue(bytes);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Sequential reader of an entry (stored or deflated) from the file, see {@link ZipEntryCursor}. */
function entryCursor(fh: Handle, entry: ZipEntry, source: string, checkCrc: boolean, chunk = STREAM_CHUNK): ZipEntryCursor {
  return new ZipEntryCursor(entry, fileRangeStream(fh, entry.offset, entry.size, source, chunk), source, checkCrc);
}

/** Reads a member's `.npy` header: stored members with exact range reads, deflated ones inflated that far. */
async function readMemberHeader(fh: Handle, entry: ZipEntry, source: string): ReturnType<typeof npzMemberHeader> {
  checkZipMethod(entry, source);
  if (entry.method === 0) {
    let at = 0;
    return npzMemberHeader(entry, source, async (n) => {
      const bytes = await readRange(fh, entry.offset + at, n, source);
      at += n;
      return bytes;
    });
  }
  const cursor = entryCursor(fh, entry, source, false, 1 << 16);
  try {
    return await npzMemberHeader(entry, source, (n) => cursor.read(n));
  } finally {
    await cursor.cancel();
  }
}

/** Reads one whole member's `.npy` bytes (stored: one range read; deflated: inflated), size and CRC checked. */
async function readEntryFile(fh: Handle, entry: ZipEntry, source: string, checkCrc: boolean): Promise<Uint8Array> {
  checkZipMethod(entry, source);
  if (entry.method === 0) {
    const bytes = await readRange(fh, entry.offset, entry.size, source);
    if (checkCrc && crc32(bytes) !== entry.crc32) fail(source, `zip: CRC-32 mismatch in "${entry.name}": data are corrupt`);
    return bytes;
  }
  const cursor = entryCursor(fh, entry, source, checkCrc);
  const bytes = await cursor.read(entry.uncompressedSize);
  await cursor.finish();
  return bytes;
}

/**
 * Reads arrays of a `.npz` file (see `readNpz` for what is returned and checked): the zip directory first, then
 * only the requested members' bytes, so e.g. `mu` and `sigma` of an ADM reference batch are read without its
 * images. Throws {@link WeightsFormatError} naming the path for malformed files.
 *
 * @example
 * const ref = await readNpzFile('VIRTUAL_imagenet256_labeled.npz', { names: ['mu', 'sigma'] });
 */
export async function readNpzFile(path: string, options: ReadNpzOptions = {}): Promise<Map<string, RawTensor>> {
  const source = options.source ?? path;
  const fh = await open(path, 'r');
  try {
    const entries = await readZipDirectoryFile(fh, (await fh.stat()).size, source);
    const out = new Map<string, RawTensor>();
    for (const [key, entry] of selectNpzEntries(entries, options, source)) {
      const bytes = await readEntryFile(fh, entry, source, options.checkCrc ?? true);
      out.set(key, readNpy(bytes, `${source}: "${entry.name}"`));
    }
    return out;
  } finally {
    await fh.close();
  }
}

/**
 * Lists the arrays of a `.npz` file (key, dtype, shape, order, sizes) from the zip directory and the `.npy`
 * headers alone: no array data is read (deflated members are inflated only as far as their header).
 *
 * @example
 * for (const m of await npzFileInfo('samples.npz')) console.log(m.name, m.descr, m.shape);
 */
export async function npzFileInfo(path: string, options: { source?: string } = {}): Promise<NpzMember[]> {
  const source = options.source ?? path;
  const fh = await open(path, 'r');
  try {
    const entries = await readZipDirectoryFile(fh, (await fh.stat()).size, source);
    const out: NpzMember[] = [];
    for (const [key, entry] of selectNpzEntries(entries, {}, source)) {
      const { header } = await readMemberHeader(fh, entry, source);
      out.push(npzMemberInfo(key, entry, header));
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Options of {@link openNpzArray}. */
export interface OpenNpzArrayOptions {
  /** Label used in error messages; default the path. */
  source?: string;
  /** Check the member's CRC-32 when it is read sequentially to its end (default true). Sizes are always checked. */
  checkCrc?: boolean;
}

/**
 * One array of a `.npz` file, read a few rows (entries of the first dimension) at a time so that arrays of any
 * size (a 50,000-image ADM sample batch is 9.8 GB) are never held in memory. Reads are serialised.
 */
export interface NpzArrayReader {
  /** Key, dtype, shape, order and sizes of the array (see `NpzMember`). */
  readonly info: NpzMember;
  /** The dtype of the tensors returned (see `NpyHeader.dtype`). */
  readonly dtype: DType;
  /** The whole array's shape. */
  readonly shape: number[];
  /** Number of rows: `shape[0]` (0-d arrays have none; use {@link readAll}). */
  readonly rows: number;
  /**
   * Rows `[start, start + count)` as a tensor of shape `[count, ...shape.slice(1)]` (row-major, native endian).
   * Stored members: one read of exactly that byte range. Deflated members: inflated sequentially; reading forward
   * skips ahead, reading backwards restarts from the beginning of the member. Throws `RangeError` for rows
   * outside the array, {@link WeightsFormatError} for truncated or corrupt data.
   */
  readRows(start: number, count: number): Promise<RawTensor>;
  /**
   * The rows in order, `rowsPerBatch` at a time (the last batch may be shorter; an empty array yields nothing),
   * as guided-diffusion's `open_npz_array(path, name).read_batches(batch_size)`. Reading to the end checks the
   * member's size and CRC-32.
   */
  batches(rowsPerBatch: number): AsyncGenerator<RawTensor, void, undefined>;
  /** The whole array (0-d arrays included). */
  readAll(): Promise<RawTensor>;
  /** Closes the file. */
  close(): Promise<void>;
}

/**
 * Opens one array of a `.npz` file for streaming: reads the zip directory and the array's `.npy` header, then
 * rows on demand (see {@link NpzArrayReader}). C-order arrays are streamed; Fortran-order ones are read whole on
 * first use (their rows are not contiguous), as guided-diffusion's `MemoryNpzArrayReader` does.
 * `name` is the key (`'arr_0'`) or member name (`'arr_0.npy'`). Close the reader when done.
 *
 * @example
 * const images = await openNpzArray('samples_50000x256x256x3.npz', 'arr_0');
 * try {
 *   for await (const batch of images.batches(250)) feed(batch); // U8 [250, 256, 256, 3], ...
 * } finally {
 *   await images.close();
 * }
 */
export async function openNpzArray(path: string, name: string, options: OpenNpzArrayOptions = {}): Promise<NpzArrayReader> {
  const source = options.source ?? path;
  const checkCrc = options.checkCrc ?? true;
  const fh = await open(path, 'r');
  try {
    const entries = await readZipDirectoryFile(fh, (await fh.stat()).size, source);
    const [[key, entry]] = selectNpzEntries(entries, { names: [name] }, source);
    const { header, headerBytes } = await readMemberHeader(fh, entry, source);
    return new FileNpzArrayReader(fh, entry, npzMemberInfo(key, entry, header), headerBytes, source, checkCrc);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

class FileNpzArrayReader implements NpzArrayReader {
  readonly dtype: DType;
  readonly shape: number[];
  readonly rows: number;
  private readonly rowShape: number[];
  private readonly rowBytes: number;
  private readonly memberSource: string;
  private queue: Promise<unknown> = Promise.resolve();
  /** Stored members: CRC of the member bytes [0, crcAt) read in order so far. */
  private crc: number;
  private crcAt: number;
  private whole?: RawTensor;
  private closed = false;
  /** Deflated members: the inflating cursor, positioned where the last read ended. */
  private cursor?: ZipEntryCursor;

  constructor(
    private readonly fh: Handle,
    private readonly entry: ZipEntry,
    readonly info: NpzMember,
    headerBytes: Uint8Array,
    private readonly source: string,
    private readonly checkCrc: boolean,
  ) {
    this.dtype = info.dtype;
    this.shape = info.shape;
    this.rows = info.shape.length > 0 ? info.shape[0] : 0;
    this.rowShape = info.shape.slice(1);
    this.rowBytes = numel(this.rowShape) * info.itemSize;
    this.memberSource = `${source}: "${entry.name}"`;
    this.crc = checkCrc && entry.method === 0 ? crc32(headerBytes) : 0;
    this.crcAt = headerBytes.length;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  readRows(start: number, count: number): Promise<RawTensor> {
    return this.serial(() => this.rowsNow(start, count));
  }

  readAll(): Promise<RawTensor> {
    return this.serial(async () => {
      if (this.info.shape.length === 0 || this.info.fortranOrder) return this.loadWhole();
      return this.rowsNow(0, this.rows);
    });
  }

  async *batches(rowsPerBatch: number): AsyncGenerator<RawTensor, void, undefined> {
    if (!(Number.isSafeInteger(rowsPerBatch) && rowsPerBatch > 0)) throw new RangeError(`rowsPerBatch must be a positive integer, got ${rowsPerBatch}`);
    if (this.info.shape.length === 0) throw new RangeError(`${this.memberSource}: a 0-d array has no rows; use readAll()`);
    for (let start = 0; start < this.rows; start += rowsPerBatch) yield await this.readRows(start, Math.min(rowsPerBatch, this.rows - start));
  }

  private async loadWhole(): Promise<RawTensor> {
    if (!this.whole) {
      const bytes = await readEntryFile(this.fh, this.entry, this.source, this.checkCrc);
      this.whole = readNpy(bytes, this.memberSource);
    }
    return this.whole;
  }

  private async rowsNow(start: number, count: number): Promise<RawTensor> {
    if (this.closed) throw new Error(`${this.memberSource}: reader is closed`);
    if (this.info.shape.length === 0) throw new RangeError(`${this.memberSource}: a 0-d array has no rows; use readAll()`);
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(count) && start >= 0 && count >= 0 && start + count <= this.rows)) {
      throw new RangeError(`${this.memberSource}: rows [${start}, ${start} + ${count}) are outside the array's ${this.rows} rows`);
    }
    const shape = [count, ...this.rowShape];
    if (this.info.fortranOrder) {
      const whole = await this.loadWhole();
      const n = numel(this.rowShape);
      return { dtype: whole.dtype, shape, data: whole.data.slice(start * n, (start + count) * n) };
    }
    const from = this.info.dataOffset + start * this.rowBytes;
    const length = count * this.rowBytes;
    let bytes: Uint8Array;
    if (this.entry.method === 0) {
      bytes = await readRange(this.fh, this.entry.offset + from, length, this.source);
      if (this.checkCrc && from === this.crcAt) {
        this.crc = crc32(bytes, this.crc);
        this.crcAt += length;
        if (this.crcAt === this.entry.size && this.crc !== this.entry.crc32) {
          fail(this.source, `zip: CRC-32 mismatch in "${this.entry.name}": data are corrupt`);
        }
      }
    } else {
      if (!this.cursor || this.cursor.position > from) {
        await this.cursor?.cancel();
        this.cursor = entryCursor(this.fh, this.entry, this.source, this.checkCrc);
      }
      await this.cursor.skip(from - this.cursor.position);
      bytes = await this.cursor.read(length);
      if (this.cursor.position === this.entry.uncompressedSize) await this.cursor.finish();
    }
    return decodeNpyData(this.info, bytes, this.memberSource, shape);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.cursor?.cancel();
    await this.fh.close();
  }
}
