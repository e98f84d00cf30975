import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RawTensor } from '@svg/weights';
import { readSafetensorsFile, readSafetensorsHeader, writeFileAtomic, writeSafetensorsFile } from '@svg/weights/node';

/** `format` of every `state.json` written here. */
export const CHECKPOINT_FORMAT = 'svg-train-checkpoint';
export const CHECKPOINT_VERSION = 1;
const STATE_FILE = 'state.json';
const NAME = /^\d{7,}$/;

/** The JSON part of a checkpoint (`state.json`): step counters, data position, RNG states, config, file digests. */
export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Which trainer wrote it. */
  kind: 'dit' | 'autoencoder' | 'classifier';
  /** Optimiser steps done. */
  step: number;
  /** Size and SHA-256 of every safetensors file of the checkpoint; a checkpoint whose files differ is rejected. */
  files: Record<string, { bytes: number; sha256: string }>;
  /** Anything else the trainer needs to resume (data position, RNG states, config...). */
  [key: string]: unknown;
}

/** A checkpoint on disk. */
export interface CheckpointInfo {
  /** Its folder, `<root>/<step, 7 digits>`. */
  path: string;
  step: number;
}

/** Options of {@link writeCheckpoint}. */
export interface WriteCheckpointOptions {
  /** Keep only the newest `keep` checkpoints (default: keep all). */
  keep?: number;
}

/**
 * Writes a checkpoint folder `<root>/<step>` atomically: every file goes into a hidden temporary folder, is flushed to
 * disk, and the folder is renamed into place only when complete (then the parent folder is flushed). A crash at any
 * point leaves either the previous set of checkpoints or the new complete one — never a truncated checkpoint under a
 * checkpoint name. `files` maps file names (e.g. `model.safetensors`) to state dicts; `state` becomes `state.json`
 * with the files' sizes and SHA-256 digests added. Older checkpoints beyond `keep` are deleted afterwards.
 */
export async function writeCheckpoint(
  root: string,
  step: number,
  files: Record<string, ReadonlyMap<string, RawTensor>>,
  state: Omit<CheckpointState, 'format' | 'version' | 'files' | 'step'>,
  options: WriteCheckpointOptions = {},
): Promise<CheckpointInfo> {
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`checkpoint step must be a non-negative integer, got ${step}`);
  await mkdir(root, { recursive: true });
  const name = String(step).padStart(7, '0');
  const final = join(root, name);
  const tmp = join(root, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    // Every file records the digest of the rest of state.json, so an edited state.json (its step, data position or
    // random states) is detected, as state.json's digests detect an edited file.
    const record = { ...state, format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step };
    const digests: CheckpointState['files'] = {};
    for (const [file, tensors] of Object.entries(files)) {
      if (file === STATE_FILE || file.includes('/')) throw new Error(`invalid checkpoint file name ${file}`);
      const path = join(tmp, file);
      await writeSafetensorsFile(path, tensors, { format: CHECKPOINT_FORMAT, state_sha256: recordDigest(record) });
      digests[file] = { bytes: (await stat(path)).size, sha256: await sha256File(path) };
    }
    const full = { ...record, files: digests } as CheckpointState;
    await writeFileAtomic(join(tmp, STATE_FILE), `${JSON.stringify(full, jsonReplacer, 1)}\n`);
    await syncDir(tmp);
    // Re-writing a step (e.g. the same step after a resume): move the old one aside first, then swap.
    let old: string | null = null;
    if (await exists(final)) {
      old = `${tmp}.old`;
      await rename(final, old);
    }
    await rename(tmp, final);
    await syncDir(root);
    if (old) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  if (options.keep !== undefined) await pruneCheckpoints(root, options.keep);
  return { path: final, step };
}

/** Complete-looking checkpoint folders under `root` (by name), oldest first. Does not verify them. */
export async function listCheckpoints(root: string): Promise<CheckpointInfo[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  return names
    .filter((n) => NAME.test(n))
    .map((n) => ({ path: join(root, n), step: Number(n) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Reads and checks a checkpoint's `state.json` and that every listed file has its recorded size (and, with
 * `checksums`, its SHA-256). Throws a message naming the problem.
 */
export async function verifyCheckpoint(path: string, options: { checksums?: boolean } = {}): Promise<CheckpointState> {
  let state: CheckpointState;
  let text: string;
  try {
    text = await readFile(join(path, STATE_FILE), 'utf8');
    state = JSON.parse(text, jsonReviver) as CheckpointState;
  } catch (e) {
    throw new Error(`checkpoint ${path}: ${STATE_FILE} is missing or unreadable (${(e as Error).message})`);
  }
  if (state.format !== CHECKPOINT_FORMAT || state.version !== CHECKPOINT_VERSION) {
    throw new Error(`checkpoint ${path}: not a version ${CHECKPOINT_VERSION} ${CHECKPOINT_FORMAT} (format ${state.format}, version ${state.version})`);
  }
  for (const [file, digest] of Object.entries(state.files ?? {})) {
    const p = join(path, file);
    let size: number;
    try {
      size = (await stat(p)).size;
    } catch {
      throw new Error(`checkpoint ${path}: ${file} is missing`);
    }
    if (size !== digest.bytes) throw new Error(`checkpoint ${path}: ${file} has ${size} bytes, expected ${digest.bytes} (truncated?)`);
    if (options.checksums && (await sha256File(p)) !== digest.sha256) throw new Error(`checkpoint ${path}: ${file} does not match its SHA-256 (corrupt)`);
  }
  const first = Object.keys(state.files ?? {})[0];
  const recorded = first ? (await readSafetensorsHeader(join(path, first))).metadata.state_sha256 : undefined;
  if (recorded !== undefined) {
    const { files: _files, ...record } = JSON.parse(text) as Record<string, unknown>;
    if (recordDigest(record) !== recorded) throw new Error(`checkpoint ${path}: ${STATE_FILE} was changed after the checkpoint was written (it no longer matches the record in ${first})`);
  }
  return state;
}

/**
 * The newest checkpoint under `root` that verifies (sizes and SHA-256), or null. Broken ones are skipped and reported
 * through `onSkip`.
 */
export async function findLatestCheckpoint(root: string, onSkip?: (path: string, reason: string) => void): Promise<(CheckpointInfo & { state: CheckpointState }) | null> {
  const all = await listCheckpoints(root);
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      const state = await verifyCheckpoint(all[i].path, { checksums: true });
      return { ...all[i], state };
    } catch (e) {
      onSkip?.(all[i].path, (e as Error).message);
    }
  }
  return null;
}

/** Reads one safetensors file of a checkpoint. */
export async function readCheckpointTensors(path: string, file: string): Promise<Map<string, RawTensor>> {
  return (await readSafetensorsFile(join(path, file))).tensors;
}

/** Deletes all but the newest `keep` checkpoints, and leftovers of interrupted writes. */
export async function pruneCheckpoints(root: string, keep: number): Promise<void> {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`keep must be a positive integer, got ${keep}`);
  const all = await listCheckpoints(root);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) await rm(c.path, { recursive: true, force: true });
}

/** Removes temporary folders left by writes that were interrupted (by another process id or a crash). */
export async function removeStaleTemporaries(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const stale = names.filter((n) => /^\.\d{7,}\.tmp-/.test(n));
  for (const n of stale) await rm(join(root, n), { recursive: true, force: true });
  return stale;
}


async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename itself is still atomic.
  } finally {
    await fh.close();
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** JSON has no NaN/±Infinity (RNG states hold NaN for "no spare normal"): encode them as strings. */
/**
 * SHA-256 of a checkpoint's state as serialised into state.json, without its file digests and its wall-clock `time`
 * (so that identical training writes identical files).
 */
function recordDigest(record: Record<string, unknown>): string {
  const { time: _time, ...rest } = record;
  return createHash('sha256').update(JSON.stringify(rest, jsonReplacer)).digest('hex');
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  return value;
}

function jsonReviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && '$number' in value && Object.keys(value).length === 1) return Number((value as { $number: string }).$number);
  return value;
}
