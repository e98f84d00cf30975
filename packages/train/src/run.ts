import { appendFile, mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '@svg/weights/node';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import type { Distributed } from '@svg/distributed';
import { type BackendName, initBackend } from '@svg/nn';
import { findLatestCheckpoint, listCheckpoints, removeStaleTemporaries, verifyCheckpoint, type CheckpointState } from './checkpoint';
import type { TrainConfig } from './config';

/** What a trainer reports after every optimiser step. */
export interface TrainProgress {
  kind: 'dit' | 'autoencoder' | 'classifier';
  /** Optimiser steps done. */
  step: number;
  /** Step at which the run stops (null: when the epochs run out). */
  maxSteps: number | null;
  epoch: number;
  /** Loss of this step (the DiT's rectified-flow loss; the autoencoder's total generator loss). */
  loss: number;
  /** Exponential moving average of the loss (factor 0.9), for display. */
  smoothLoss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  stepsPerSecond: number;
  samplesPerSecond: number;
  /** Seconds left at the current rate (null when unknown). */
  etaSeconds: number | null;
  lr: number;
  /** Other per-step values (e.g. the autoencoder's `rec_loss`, `disc_loss`). */
  extra: Record<string, number>;
}

/** Options shared by {@link trainDiT} and {@link trainAutoencoder}. */
export interface TrainOptions {
  /** Path of the YAML config, or an already parsed config. */
  config: string | TrainConfig;
  /**
   * Continue a run: `true` resumes from the newest valid checkpoint in the run folder, a string names a checkpoint
   * folder. Without it, a run folder that already has checkpoints is refused (nothing is overwritten).
   */
  resume?: boolean | string;
  /** Overrides `train.max_steps`. */
  maxSteps?: number;
  /** Run folder (default `<results_dir>/<exp_name>`). */
  runDir?: string;
  /** Initialise this tfjs backend first (default: keep the current one). */
  backend?: BackendName;
  /** Called after every optimiser step; awaited. Throwing from it aborts the run without a final checkpoint. */
  onProgress?: (progress: TrainProgress) => void | Promise<void>;
  /** Receives every log line (also written to `log.txt`). */
  onLog?: (line: string) => void;
  /**
   * Stops after the current step, writing a checkpoint (a graceful stop; resume later with `resume: true`). In a
   * data-parallel run, a stop on any rank stops them all after the same step.
   */
  signal?: AbortSignal;
  /**
   * The data-parallel job (`initDistributed()` of `@svg/distributed`). Default: the job this process was launched
   * in — a single process without a launcher. Only rank 0 logs, calls `onProgress` and writes files.
   */
  distributed?: Distributed;
}

/** How a run ended. */
export interface TrainResult {
  runDir: string;
  step: number;
  epoch: number;
  /** The last checkpoint written (or resumed from), null if none. */
  checkpoint: string | null;
  /** Loss of the first and last step run in this call. */
  firstLoss: number | null;
  lastLoss: number | null;
  stopped: 'max-steps' | 'epochs' | 'aborted';
}

/** The run folder's log: `log.txt` lines with a timestamp, also passed to `onLog`. Silent without a folder. */
export class RunLog {
  constructor(
    readonly runDir: string | null,
    private readonly onLog?: (line: string) => void,
  ) {}

  async write(message: string): Promise<void> {
    if (this.runDir === null) return;
    this.onLog?.(message);
    await appendFile(join(this.runDir, 'log.txt'), `[${new Date().toISOString()}] ${message}\n`);
  }
}

/** Creates the run folder, saves the config next to it and finds the checkpoint to resume from. */
export async function prepareRun(
  config: TrainConfig,
  runDir: string,
  resume: boolean | string | undefined,
  log: RunLog,
): Promise<{ checkpointRoot: string; resumeFrom: { path: string; state: CheckpointState } | null }> {
  await mkdir(runDir, { recursive: true });
  const checkpointRoot = join(runDir, 'checkpoints');
  await mkdir(checkpointRoot, { recursive: true });
  const stale = await removeStaleTemporaries(checkpointRoot);
  if (stale.length > 0) await log.write(`removed ${stale.length} incomplete checkpoint write(s): ${stale.join(', ')}`);
  let resumeFrom: { path: string; state: CheckpointState } | null = null;
  if (typeof resume === 'string') {
    resumeFrom = { path: resume, state: await verifyCheckpoint(resume, { checksums: true }) };
  } else if (resume) {
    const skipped: string[] = [];
    const latest = await findLatestCheckpoint(checkpointRoot, (path, reason) => skipped.push(`${path}: ${reason}`));
    for (const s of skipped) await log.write(`skipping broken checkpoint ${s}`);
    if (!latest) throw new Error(`nothing to resume: no valid checkpoint in ${checkpointRoot}${skipped.length ? ` (${skipped.length} broken)` : ''}`);
    resumeFrom = latest;
  } else if ((await listCheckpoints(checkpointRoot)).length > 0) {
    throw new Error(`${runDir} already holds checkpoints: resume it (--resume) or choose another exp_name / run folder`);
  }
  if (resumeFrom && resumeFrom.state.kind !== config.kind) {
    throw new Error(`checkpoint ${resumeFrom.path} was written by the ${resumeFrom.state.kind} trainer, not the ${config.kind} trainer`);
  }
  await writeFileAtomic(join(runDir, 'config.yaml'), stringifyYaml(config.raw));
  return { checkpointRoot, resumeFrom };
}

/** Where a run lives: its job, log, folder and checkpoints folder (on ranks other than 0: a silent log, no folder). */
export interface RunContext {
  dist: Distributed;
  log: RunLog;
  runDir: string;
  checkpointRoot: string;
}

/**
 * What every trainer does first, on every rank: rank 0 creates the run folder and its log, the backend starts, and
 * rank 0 finds the checkpoint to resume from ({@link prepareRun}); the other ranks get a silent log and no folder.
 */
export async function openRun(
  config: TrainConfig,
  runDir: string,
  options: Pick<TrainOptions, 'backend' | 'resume' | 'onLog'>,
  dist: Distributed,
): Promise<{ run: RunContext; resumeFrom: { path: string; state: CheckpointState } | null }> {
  if (dist.isMain) await mkdir(runDir, { recursive: true });
  const log = new RunLog(dist.isMain ? runDir : null, options.onLog);
  await startBackend(options.backend, log);
  const { checkpointRoot, resumeFrom } = dist.isMain ? await prepareRun(config, runDir, options.resume, log) : { checkpointRoot: '', resumeFrom: null };
  return { run: { dist, log, runDir, checkpointRoot }, resumeFrom };
}

/** Starts the requested backend, if any. */
export async function startBackend(name: BackendName | undefined, log: RunLog): Promise<void> {
  if (!name) return;
  const info = await initBackend(name);
  await log.write(`backend: ${info.name} (${info.detail})`);
}

/** Per-step losses: the first and last, a smoothed value for display, and means per logging interval. */
export class LossTracker {
  first: number | null = null;
  last: number | null = null;
  smooth = 0;
  private count = 0;
  private intervalSum = 0;
  private intervalCount = 0;
  private extraSums: Record<string, number> = {};

  add(loss: number, extra: Record<string, number> = {}): void {
    if (this.first === null) this.first = loss;
    this.last = loss;
    this.smooth = this.count === 0 ? loss : 0.9 * this.smooth + 0.1 * loss;
    this.count++;
    this.intervalSum += loss;
    this.intervalCount++;
    for (const [k, v] of Object.entries(extra)) this.extraSums[k] = (this.extraSums[k] ?? 0) + v;
  }

  /** Mean loss (and extras) since the last call. */
  takeInterval(): { loss: number; extra: Record<string, number> } {
    const n = Math.max(1, this.intervalCount);
    const out = { loss: this.intervalSum / n, extra: Object.fromEntries(Object.entries(this.extraSums).map(([k, v]) => [k, v / n])) };
    this.intervalSum = 0;
    this.intervalCount = 0;
    this.extraSums = {};
    return out;
  }
}
