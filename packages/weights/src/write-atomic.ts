import { type FileHandle, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that readers only ever see the old or the complete new contents: the folder is created first,
 * the bytes go to a temporary file beside `path` (same file system), are flushed to disk (fsync) and renamed over
 * `path`; on any failure the temporary file is removed and an existing `path` is left untouched. `data` is the
 * contents, or a function that writes them through the open file handle (for large files written in pieces).
 * Temporary files of `path` left by writers that were killed (their process is gone) are removed first.
 *
 * @example
 * await writeFileAtomic('out/report.json', JSON.stringify(report));
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string | ((fh: FileHandle) => Promise<void>)): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await removeOrphanedTemporaries(path);
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

/** Deletes `.<name>.<pid>.<hex>.tmp` files beside `path` whose writing process no longer runs (killed mid-write). */
async function removeOrphanedTemporaries(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`;
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length));
    if (m && !processRuns(Number(m[1]))) await unlink(join(dirname(path), name)).catch(() => undefined);
  }
}

function processRuns(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}
