import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from './node';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'svg-atomic-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('creates missing folders and writes text, bytes, or through the file handle', async () => {
    await writeFileAtomic(join(root, 'a/b/c.txt'), 'hello');
    await writeFileAtomic(join(root, 'a/d.bin'), Uint8Array.of(1, 2, 3));
    await writeFileAtomic(join(root, 'e.bin'), async (fh) => {
      await fh.write(Uint8Array.of(7));
      await fh.write(Uint8Array.of(8, 9));
    });
    expect(await readFile(join(root, 'a/b/c.txt'), 'utf8')).toBe('hello');
    expect([...(await readFile(join(root, 'a/d.bin')))]).toEqual([1, 2, 3]);
    expect([...(await readFile(join(root, 'e.bin')))]).toEqual([7, 8, 9]);
    expect((await readdir(root)).sort()).toEqual(['a', 'e.bin']);
  });

  it('leaves the old file intact and no temporary file when the write fails midway', async () => {
    const path = join(root, 'model.safetensors');
    await writeFile(path, 'old contents');
    const failure = writeFileAtomic(path, async (fh) => {
      await fh.write(new TextEncoder().encode('half of the new'));
      throw new Error('ENOSPC: no space left on device (injected)');
    });
    await expect(failure).rejects.toThrow(/ENOSPC/);
    expect(await readFile(path, 'utf8')).toBe('old contents');
    expect(await readdir(root)).toEqual(['model.safetensors']);
  });

  it('replaces an existing file whole', async () => {
    const path = join(root, 'x.json');
    await writeFileAtomic(path, '{"v":1}');
    await writeFileAtomic(path, '{"v":2}');
    expect(await readFile(path, 'utf8')).toBe('{"v":2}');
    expect(await readdir(root)).toEqual(['x.json']);
  });

  it('removes the temporary files of writers that were killed, and keeps those of running ones', async () => {
    const path = join(root, 'dit.safetensors');
    const dead = join(root, '.dit.safetensors.999999999.0badf00d.tmp'); // no such process
    const alive = join(root, `.dit.safetensors.${process.ppid}.0badf00d.tmp`); // our parent runs
    const other = join(root, '.other.bin.999999999.0badf00d.tmp');
    for (const p of [dead, alive, other]) await writeFile(p, 'partial');
    await writeFileAtomic(path, 'new');
    expect((await readdir(root)).sort()).toEqual([`.dit.safetensors.${process.ppid}.0badf00d.tmp`, '.other.bin.999999999.0badf00d.tmp', 'dit.safetensors']);
  });
});
