/**
 * Writing numpy `.npz` archives (uncompressed, as `np.savez` does) whose arrays are too large to hold in memory,
 * row by row and resumably (`@svg/weights/node`). Used for ADM-style sample batches: `arr_0` uint8 images
 * [N, H, W, 3] and `arr_1` int64 labels, read by guided-diffusion's evaluator, numpy and this package's reader.
 */
import { type FileHandle, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { type DType, type TypedArray, dtypeSize, numel } from './dtypes';
import { fail } from './errors';
import { writeFileAtomic } from './write-atomic';

/** One array of an archive being written: its member name (without `.npy`), dtype and full shape. */
export interface NpyArraySpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Options of {@link NpzFileWriter.create}. */
export interface NpzWriterOptions {
  /**
   * Continue an unfinished archive (`<path>.partial` with its `<path>.partial.json` progress) if there is one and
   * it was started with the same arrays and `meta`; otherwise refuse. Default false: start over.
   */
  resume?: boolean;
  /** Anything that must match for a resume to be valid (e.g. the sampling settings); stored in the progress file. */
  meta?: Record<string, unknown>;
}

const NPY_DESCR: Partial<Record<DType, string>> = {
  U8: '|u1', I8: '|i1', BOOL: '|b1', I16: '<i2', I32: '<i4', I64: '<i8', F16: '<f2', F32: '<f4', F64: '<f8',
};

/** The `.npy` header (v1.0, padded so the data starts on a 64-byte boundary, as numpy writes it). */
export function npyHeader(dtype: DType, shape: readonly number[]): Uint8Array {
  const descr = NPY_DESCR[dtype];
  if (!descr) fail('npy', `dtype ${dtype} has no numpy equivalent`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let text = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  const unpadded = 10 + text.length + 1;
  text += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (text.length > 0xffff) fail('npy', `header of shape [${shape.join(', ')}] is too long for npy v1.0`);
  const out = new Uint8Array(10 + text.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  return out;
}

interface MemberLayout {
  spec: NpyArraySpec;
  fileName: string;
  npy: Uint8Array;
  /** Offset of the member's local header; the data of the .npy member (header included) follows it. */
  headerOffset: number;
  /** Offset of the first array element. */
  dataOffset: number;
  rowBytes: number;
  /** Bytes of the .npy member (its header + the elements). */
  memberSize: number;
}

const LOCAL_HEADER = 30;
const ZIP64_LOCAL_EXTRA = 20;

function layoutOf(specs: NpyArraySpec[]): { members: MemberLayout[]; centralOffset: number } {
  let offset = 0;
  const members = specs.map((spec) => {
    if (!/^[\w.-]+$/.test(spec.name)) fail('npz', `array name "${spec.name}" must be letters, digits, '_', '-' or '.'`);
    if (spec.shape.some((d) => !Number.isInteger(d) || d < 0)) fail('npz', `array "${spec.name}": bad shape [${spec.shape.join(', ')}]`);
    const fileName = `${spec.name}.npy`;
    const npy = npyHeader(spec.dtype, spec.shape);
    const rows = spec.shape[0] ?? 1;
    const elementBytes = numel(spec.shape) * dtypeSize(spec.dtype);
    const headerOffset = offset;
    const dataOffset = headerOffset + LOCAL_HEADER + fileName.length + ZIP64_LOCAL_EXTRA + npy.length;
    offset = dataOffset + elementBytes;
    return { spec, fileName, npy, headerOffset, dataOffset, rowBytes: rows === 0 ? 0 : elementBytes / rows, memberSize: npy.length + elementBytes };
  });
  return { members, centralOffset: offset };
}

/** DOS date and time of 1980-01-01 00:00 (numpy's members carry the time of writing; nothing reads it). */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

function localHeader(m: MemberLayout, crc: number): Uint8Array {
  const b = new Uint8Array(LOCAL_HEADER + m.fileName.length + ZIP64_LOCAL_EXTRA);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(4, 45, true); // version needed: ZIP64
  v.setUint16(8, 0, true); // stored
  v.setUint16(10, DOS_TIME, true);
  v.setUint16(12, DOS_DATE, true);
  v.setUint32(14, crc >>> 0, true);
  v.setUint32(18, 0xffffffff, true);
  v.setUint32(22, 0xffffffff, true);
  v.setUint16(26, m.fileName.length, true);
  v.setUint16(28, ZIP64_LOCAL_EXTRA, true);
  for (let i = 0; i < m.fileName.length; i++) b[30 + i] = m.fileName.charCodeAt(i);
  const x = 30 + m.fileName.length;
  v.setUint16(x, 0x0001, true);
  v.setUint16(x + 2, 16, true);
  v.setBigUint64(x + 4, BigInt(m.memberSize), true);
  v.setBigUint64(x + 12, BigInt(m.memberSize), true);
  return b;
}

/** Central directory + ZIP64 end records + end of central directory (every size field through ZIP64, as numpy). */
function centralDirectory(members: MemberLayout[], crcs: number[], centralOffset: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [k, m] of members.entries()) {
    const b = new Uint8Array(46 + m.fileName.length + 28);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, 45, true);
    v.setUint16(6, 45, true);
    v.setUint16(12, DOS_TIME, true);
    v.setUint16(14, DOS_DATE, true);
    v.setUint32(16, crcs[k] >>> 0, true);
    v.setUint32(20, 0xffffffff, true);
    v.setUint32(24, 0xffffffff, true);
    v.setUint16(28, m.fileName.length, true);
    v.setUint16(30, 28, true);
    v.setUint32(38, 0o100644 << 16, true); // external attributes: a regular file, rw-r--r--
    v.setUint32(42, 0xffffffff, true);
    for (let i = 0; i < m.fileName.length; i++) b[46 + i] = m.fileName.charCodeAt(i);
    const x = 46 + m.fileName.length;
    v.setUint16(x, 0x0001, true);
    v.setUint16(x + 2, 24, true);
    v.setBigUint64(x + 4, BigInt(m.memberSize), true);
    v.setBigUint64(x + 12, BigInt(m.memberSize), true);
    v.setBigUint64(x + 20, BigInt(m.headerOffset), true);
    parts.push(b);
  }
  const centralSize = parts.reduce((s, p) => s + p.length, 0);
  const end = new Uint8Array(56 + 20 + 22);
  const v = new DataView(end.buffer);
  v.setUint32(0, 0x06064b50, true); // ZIP64 end of central directory record
  v.setBigUint64(4, 44n, true);
  v.setUint16(12, 45, true);
  v.setUint16(14, 45, true);
  v.setBigUint64(24, BigInt(members.length), true);
  v.setBigUint64(32, BigInt(members.length), true);
  v.setBigUint64(40, BigInt(centralSize), true);
  v.setBigUint64(48, BigInt(centralOffset), true);
  v.setUint32(56, 0x07064b50, true); // ZIP64 locator
  v.setBigUint64(64, BigInt(centralOffset + centralSize), true);
  v.setUint32(72, 1, true);
  v.setUint32(76, 0x06054b50, true); // end of central directory
  v.setUint16(84, Math.min(members.length, 0xffff), true);
  v.setUint16(86, Math.min(members.length, 0xffff), true);
  v.setUint32(88, Math.min(centralSize, 0xffffffff), true);
  v.setUint32(92, Math.min(centralOffset, 0xffffffff), true);
  parts.push(end);
  const out = new Uint8Array(centralSize + end.length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Progress {
  arrays: NpyArraySpec[];
  meta: Record<string, unknown>;
  rowsDone: Record<string, number>;
}

/**
 * An uncompressed `.npz` written in pieces: every array's shape is fixed up front, rows are appended with
 * {@link writeRows}, and {@link finish} adds the CRCs and the zip directory and renames `<path>.partial` to `path`.
 * After each append the progress is recorded atomically in `<path>.partial.json`, so a killed writer can be
 * reopened with `resume: true` and continue after the last recorded row (rows written after it are overwritten).
 * Readers never see a half-written `path`.
 *
 * @example
 * const w = await NpzFileWriter.create('samples.npz', [
 *   { name: 'arr_0', dtype: 'U8', shape: [n, 32, 32, 3] },
 *   { name: 'arr_1', dtype: 'I64', shape: [n] },
 * ], { resume: true, meta: settings });
 * await w.writeRows('arr_1', 0, BigInt64Array.from(labels, BigInt));
 * for (let i = w.rowsDone.arr_0; i < n; i += batch) await w.writeRows('arr_0', i, imagesOf(i));
 * await w.finish();
 */
export class NpzFileWriter {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly members: MemberLayout[],
    private readonly centralOffset: number,
    private readonly progress: Progress,
  ) {}

  /** Rows already written per array (non-zero after a resume). */
  get rowsDone(): Readonly<Record<string, number>> {
    return this.progress.rowsDone;
  }

  /** Rows of every array once complete. */
  rows(name: string): number {
    return this.member(name).spec.shape[0] ?? 1;
  }

  /** Starts `path` (as `<path>.partial`), or continues an unfinished one when `options.resume` is set. */
  static async create(path: string, arrays: NpyArraySpec[], options: NpzWriterOptions = {}): Promise<NpzFileWriter> {
    const { members, centralOffset } = layoutOf(arrays);
    const partial = `${path}.partial`;
    const progressFile = `${partial}.json`;
    const meta = options.meta ?? {};
    let progress: Progress = { arrays, meta, rowsDone: Object.fromEntries(arrays.map((a) => [a.name, 0])) };
    let resumed = false;
    if (options.resume) {
      const saved = await readProgress(progressFile);
      if (saved) {
        const same = JSON.stringify({ a: saved.arrays, m: saved.meta }) === JSON.stringify({ a: arrays, m: JSON.parse(JSON.stringify(meta)) });
        if (!same) {
          fail(partial, `was started with other arrays or settings (${JSON.stringify(saved.meta)}); use the same settings, or delete ${partial} and ${progressFile} to start over`);
        }
        if ((await stat(partial).catch(() => null))?.size !== centralOffset) fail(partial, `has the wrong size for its progress file ${progressFile}; delete both to start over`);
        progress = saved;
        resumed = true;
      }
    }
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(partial, resumed ? 'r+' : 'w+');
    if (!resumed) {
      await fh.truncate(centralOffset);
      for (const m of members) await fh.write(m.npy, 0, m.npy.length, m.dataOffset - m.npy.length);
      await writeFileAtomic(progressFile, JSON.stringify(progress));
    }
    return new NpzFileWriter(path, fh, members, centralOffset, progress);
  }

  /**
   * Writes rows `[start, start + rows)` of array `name` (C order, `data.length` a whole number of rows), then
   * records them as done. `start` may not skip past the rows already done (appending or rewriting only).
   */
  async writeRows(name: string, start: number, data: TypedArray): Promise<void> {
    const m = this.member(name);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const rows = m.rowBytes === 0 ? 0 : bytes.length / m.rowBytes;
    if (!Number.isInteger(rows)) fail(this.path, `array "${name}": ${bytes.length} bytes is not a whole number of rows of ${m.rowBytes} bytes`);
    const total = this.rows(name);
    if (start < 0 || start > this.progress.rowsDone[name] || start + rows > total) {
      fail(this.path, `array "${name}": rows [${start}, ${start + rows}) do not follow the ${this.progress.rowsDone[name]} done (of ${total})`);
    }
    for (let done = 0; done < bytes.length; ) {
      const { bytesWritten } = await this.fh.write(bytes, done, Math.min(1 << 26, bytes.length - done), m.dataOffset + start * m.rowBytes + done);
      done += bytesWritten;
    }
    await this.fh.datasync();
    this.progress.rowsDone[name] = Math.max(this.progress.rowsDone[name], start + rows);
    await writeFileAtomic(`${this.path}.partial.json`, JSON.stringify(this.progress));
  }

  /** Checks that every row was written, adds CRCs and the zip directory, and renames the archive into place. */
  async finish(): Promise<void> {
    for (const m of this.members) {
      if (this.progress.rowsDone[m.spec.name] < this.rows(m.spec.name) && numel(m.spec.shape) > 0) {
        fail(this.path, `array "${m.spec.name}" has ${this.progress.rowsDone[m.spec.name]} of ${this.rows(m.spec.name)} rows`);
      }
    }
    const crcs: number[] = [];
    const chunk = new Uint8Array(1 << 24);
    for (const m of this.members) {
      let crc = 0;
      const from = m.dataOffset - m.npy.length;
      for (let at = 0; at < m.memberSize; ) {
        const { bytesRead } = await this.fh.read(chunk, 0, Math.min(chunk.length, m.memberSize - at), from + at);
        if (bytesRead === 0) fail(`${this.path}.partial`, 'ended early while computing checksums');
        crc = crc32(chunk.subarray(0, bytesRead), crc);
        at += bytesRead;
      }
      crcs.push(crc);
      await this.fh.write(localHeader(m, crc), 0, undefined, m.headerOffset);
    }
    const dir = centralDirectory(this.members, crcs, this.centralOffset);
    await this.fh.write(dir, 0, dir.length, this.centralOffset);
    await this.fh.sync();
    await this.fh.close();
    await rename(`${this.path}.partial`, this.path);
    await unlink(`${this.path}.partial.json`).catch(() => undefined);
  }

  /** Closes the file without finishing (the progress stays, for a later resume). */
  async close(): Promise<void> {
    await this.fh.close();
  }

  private member(name: string): MemberLayout {
    const m = this.members.find((x) => x.spec.name === name);
    if (!m) fail(this.path, `no array "${name}" (arrays: ${this.members.map((x) => x.spec.name).join(', ')})`);
    return m;
  }
}

async function readProgress(file: string): Promise<Progress | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as Progress;
  } catch {
    fail(file, 'is not valid JSON (a damaged progress file): delete it and the .partial archive to start over');
  }
}
