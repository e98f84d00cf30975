import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

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
