/**
 * Node-only file helpers (`@svg/weights/node`). The main entry stays free of `node:fs` for browsers.
 */
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type RawTensor, convertTensor, numel, typedView } from './dtypes';
import { fail } from './errors';
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
import { readCheckpoint } from './torch';

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
      const end = Math.max(...run.map((e) => e.end));
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
  const out = new Uint8Array(length);
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
 * Writes a file so that readers only ever see the old or the complete new contents: the folder is created first,
 * the bytes go to a temporary file beside `path` (same file system), are flushed to disk (fsync) and renamed over
 * `path`; on any failure the temporary file is removed and an existing `path` is left untouched. `data` is the
 * contents, or a function that writes them through the open file handle (for large files written in pieces).
 *
 * @example
 * await writeFileAtomic('out/report.json', JSON.stringify(report));
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string | ((fh: FileHandle) => Promise<void>)): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    if (typeof data === 'function') await data(fh);
    else await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * Reads a checkpoint file of any supported kind, judged by content: torch zip (`.pt`, `.pth`, `.ckpt`), torch
 * legacy pickle, or safetensors (returned as its `Map` of tensors). See `readTorchCheckpoint` for the value mapping.
 *
 * @example
 * const sd = findStateDict(await readCheckpointFile('last.ckpt'));
 */
export async function readCheckpointFile(path: string): Promise<unknown> {
  const fh = await open(path, 'r');
  let bytes: Uint8Array;
  try {
    bytes = await readRange(fh, 0, (await fh.stat()).size, path);
  } finally {
    await fh.close();
  }
  return readCheckpoint(bytes, { source: path });
}
