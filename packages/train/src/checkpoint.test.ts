import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RawTensor } from '@svg/weights';
import {
  findLatestCheckpoint,
  listCheckpoints,
  readCheckpointTensors,
  removeStaleTemporaries,
  verifyCheckpoint,
  writeCheckpoint,
} from './checkpoint';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'svg-ckpt-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const tensors = (v: number): Map<string, RawTensor> => new Map([['w', { dtype: 'F32', shape: [2], data: new Float32Array([v, -v]) }]]);

describe('checkpoints', () => {
  it('writes a complete folder with digests and reads it back', async () => {
    const info = await writeCheckpoint(root, 12, { 'model.safetensors': tensors(1) }, { kind: 'dit', data: { epoch: 0, index: 96 }, rng: [1, 2, NaN] });
    expect(info.path).toBe(join(root, '0000012'));
    const state = await verifyCheckpoint(info.path, { checksums: true });
    expect(state.step).toBe(12);
    expect(state.kind).toBe('dit');
    expect(state.rng).toEqual([1, 2, NaN]); // NaN survives JSON
    expect(state.files['model.safetensors'].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Array.from((await readCheckpointTensors(info.path, 'model.safetensors')).get('w')!.data as Float32Array)).toEqual([1, -1]);
    expect(await readdir(root)).toEqual(['0000012']); // no temporary left behind
  });

  it('detects an edited state.json (step, data position) against the record its files carry', async () => {
    for (const step of [2, 4]) await writeCheckpoint(root, step, { 'model.safetensors': tensors(step) }, { kind: 'dit', data: { epoch: 0, index: 8 * step }, rng: [1, NaN] });
    const { readFile } = await import('node:fs/promises');
    const stateFile = join(root, '0000004', 'state.json');
    const original = await readFile(stateFile, 'utf8');
    await writeFile(stateFile, original.replace('"step": 4', '"step": 40'));
    await expect(verifyCheckpoint(join(root, '0000004'))).rejects.toThrow(/state\.json was changed after the checkpoint was written \(it no longer matches the record in model\.safetensors\)/);
    const skipped: string[] = [];
    expect((await findLatestCheckpoint(root, (_p, reason) => skipped.push(reason)))!.step).toBe(2);
    expect(skipped).toHaveLength(1);
    await writeFile(stateFile, original.replace('"index": 32', '"index": 0'));
    await expect(verifyCheckpoint(join(root, '0000004'))).rejects.toThrow(/was changed/);
    await writeFile(stateFile, original); // put back as written: accepted again
    expect((await verifyCheckpoint(join(root, '0000004'), { checksums: true })).step).toBe(4);
  });

  it('keeps the newest K and finds the latest valid one, skipping truncated or corrupt ones', async () => {
    for (const step of [1, 2, 3, 4]) await writeCheckpoint(root, step, { 'model.safetensors': tensors(step) }, { kind: 'dit' }, { keep: 3 });
    expect((await listCheckpoints(root)).map((c) => c.step)).toEqual([2, 3, 4]);
    expect((await findLatestCheckpoint(root))!.step).toBe(4);
    await truncate(join(root, '0000004', 'model.safetensors'), 10);
    const skipped: string[] = [];
    const latest = await findLatestCheckpoint(root, (_p, reason) => skipped.push(reason));
    expect(latest!.step).toBe(3);
    expect(skipped[0]).toMatch(/model.safetensors has 10 bytes, expected \d+ \(truncated\?\)/);
    // Same size, different bytes: caught by the checksum.
    const file = join(root, '0000003', 'model.safetensors');
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(file, bytes);
    expect((await findLatestCheckpoint(root))!.step).toBe(2);
    await expect(verifyCheckpoint(join(root, '0000003'), { checksums: true })).rejects.toThrow(/SHA-256/);
  });

  it('a crash during a write leaves the previous checkpoints as they were and no half-written one', async () => {
    await writeCheckpoint(root, 5, { 'model.safetensors': tensors(5) }, { kind: 'dit' });
    const broken = new Map<string, RawTensor>([['w', { dtype: 'F32', shape: [3], data: new Float32Array(2) }]]); // shape/data mismatch: throws mid-write
    await expect(writeCheckpoint(root, 6, { 'a.safetensors': tensors(6), 'b.safetensors': broken }, { kind: 'dit' })).rejects.toThrow();
    expect(await readdir(root)).toEqual(['0000005']);
    expect((await findLatestCheckpoint(root))!.step).toBe(5);
  });

  it('ignores and cleans leftovers of a killed writer; an unfinished folder never counts', async () => {
    await writeCheckpoint(root, 7, { 'model.safetensors': tensors(7) }, { kind: 'dit' });
    await mkdir(join(root, '.0000008.tmp-999-abcd'));
    await writeFile(join(root, '.0000008.tmp-999-abcd', 'model.safetensors'), 'partial');
    await mkdir(join(root, '0000009')); // a folder without state.json (e.g. copied by hand, half done)
    expect((await findLatestCheckpoint(root))!.step).toBe(7);
    expect(await removeStaleTemporaries(root)).toEqual(['.0000008.tmp-999-abcd']);
    expect((await readdir(root)).sort()).toEqual(['0000007', '0000009']);
  });

  it('rewriting a step replaces it atomically', async () => {
    await writeCheckpoint(root, 3, { 'model.safetensors': tensors(1) }, { kind: 'dit' });
    await writeCheckpoint(root, 3, { 'model.safetensors': tensors(2) }, { kind: 'dit' });
    expect(Array.from((await readCheckpointTensors(join(root, '0000003'), 'model.safetensors')).get('w')!.data as Float32Array)).toEqual([2, -2]);
    expect(await readdir(root)).toEqual(['0000003']);
  });

  it('refuses bad names and reports missing state', async () => {
    await expect(writeCheckpoint(root, -1, {}, { kind: 'dit' })).rejects.toThrow(/non-negative integer/);
    await expect(writeCheckpoint(root, 1, { 'state.json': tensors(1) }, { kind: 'dit' })).rejects.toThrow(/invalid checkpoint file name/);
    await expect(verifyCheckpoint(join(root, 'nothing'))).rejects.toThrow(/state.json is missing/);
  });
});
