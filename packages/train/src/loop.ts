import { join } from 'node:path';
import type { Distributed } from '@svg/distributed';
import type { RawTensor } from '@svg/weights';
import { type CheckpointState, writeCheckpoint } from './checkpoint';
import type { DataPosition } from './data';
import { NonFiniteLossError } from './dit-step';
import { MetricsLog, RateMeter, writeLossCurve } from './metrics';
import { LossTracker, type RunLog, type TrainOptions, type TrainProgress, type TrainResult } from './run';

/** A batch as every data source yields it. */
export interface LoopBatch {
  count: number;
  epoch: number;
  /** This rank's position right after the batch. */
  next: DataPosition;
}

/** What one optimiser step reports to the loop. */
export interface LoopStepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Values averaged per logging interval into `metrics.jsonl` under these names (and passed to `onProgress`). */
  extra: Record<string, number>;
}

/** Where a run starts: from scratch, or what a checkpoint (shared by rank 0) says. */
export interface LoopStart {
  step: number;
  /** Samples of the global batch consumed in `epoch`. */
  position: DataPosition;
  lastCheckpoint: string | null;
  resumed: boolean;
}

/**
 * The parts of a training run that differ between the trainers; {@link runTrainingLoop} does the rest. Every
 * callback runs on every rank except `samples`, `checkpoint` and the logging ones, which run on rank 0 only.
 */
export interface TrainingLoopSpec<B extends LoopBatch> {
  kind: TrainProgress['kind'];
  options: Pick<TrainOptions, 'signal' | 'onProgress'>;
  dist: Pick<Distributed, 'isMain' | 'worldSize' | 'anyTrue'>;
  log: RunLog;
  runDir: string;
  checkpointRoot: string;
  start: LoopStart;
  maxSteps: number | null;
  /** The run stops when the data reaches this epoch (null: only `maxSteps` stops it). */
  epochs: number | null;
  /** Micro-batches per optimiser step (gradient accumulation). */
  batchesPerStep: number;
  logEvery: number;
  checkpointEvery: number;
  /** Steps between `samples` calls (0: never). */
  sampleEvery: number;
  keepCheckpoints: number;
  /** This rank's batches from this rank's position. */
  batches(from: DataPosition): AsyncGenerator<B>;
  /** One optimiser step over `batches`; `step` counts the steps done before it. */
  step(batches: B[], step: number): Promise<LoopStepResult>;
  /** The learning rate of the last step. */
  lr(): number;
  /** The checkpoint's safetensors files and its `state.json` fields (the position is the global one). */
  checkpoint(position: DataPosition): Promise<{ files: Record<string, ReadonlyMap<string, RawTensor>>; state: Omit<CheckpointState, 'format' | 'version' | 'files' | 'step'> }>;
  /** Writes samples (a grid) at `step`; returns the line to log, or null. */
  samples?(step: number): Promise<string | null>;
  /** The log line of a logging interval. */
  logLine(step: number, interval: { loss: number; extra: Record<string, number> }, stepsPerSecond: number): string;
  /** Metrics plotted in `loss.png`, and its title. */
  curve: { keys: string[]; title: string };
  /** Advice appended to a divergence error (which setting to lower). */
  divergenceHint: string;
}

/**
 * The training loop every trainer shares: batches (with accumulation) → step → progress, metrics, loss curve,
 * samples and checkpoints on their schedules, until `maxSteps`, the epochs or a stop request; a final checkpoint;
 * resumable from any of them. Data-parallel runs stop together (a stop request on one rank stops all after the same
 * step), keep the data position as the global batch's, and write files on rank 0 only.
 */
export async function runTrainingLoop<B extends LoopBatch>(spec: TrainingLoopSpec<B>): Promise<TrainResult> {
  const { dist, log, options, maxSteps } = spec;
  const { worldSize, isMain } = dist;
  let { step, position, lastCheckpoint } = spec.start;
  let lastCheckpointStep = lastCheckpoint ? step : -1;
  const metrics = isMain ? await MetricsLog.open(join(spec.runDir, 'metrics.jsonl'), spec.start.resumed ? step : null) : null;
  const curve = () => writeLossCurve(join(spec.runDir, 'loss.png'), metrics!, spec.curve.keys, spec.curve.title);
  const save = async (): Promise<string> => {
    const { files, state } = await spec.checkpoint(position);
    const info = await writeCheckpoint(spec.checkpointRoot, step, files, state, { keep: spec.keepCheckpoints });
    await log.write(`checkpoint ${info.path}`);
    lastCheckpointStep = step;
    return info.path;
  };

  if (position.index % worldSize !== 0) throw new Error(`the data position ${position.index} of epoch ${position.epoch} cannot be split over ${worldSize} ranks`);
  const stream = spec.batches({ epoch: position.epoch, index: position.index / worldSize });
  const meter = new RateMeter();
  const losses = new LossTracker();
  let stopped: TrainResult['stopped'] = 'max-steps';
  meter.tick(0);
  try {
    for (;;) {
      if (maxSteps !== null && step >= maxSteps) break;
      if (await dist.anyTrue(options.signal?.aborted ?? false)) {
        stopped = 'aborted';
        break;
      }
      const micro: B[] = [];
      while (micro.length < spec.batchesPerStep) {
        const next = await stream.next();
        if (next.done) throw new Error('the data source ended');
        micro.push(next.value);
      }
      if (spec.epochs !== null && micro[0].epoch >= spec.epochs) {
        stopped = 'epochs';
        break;
      }
      let result: LoopStepResult;
      try {
        result = await spec.step(micro, step);
      } catch (e) {
        if (e instanceof NonFiniteLossError) {
          e.message += `; ${lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint}` : 'no checkpoint was written yet'}. ${spec.divergenceHint}`;
          await log.write(e.message);
        }
        throw e;
      }
      step++;
      const next = micro[micro.length - 1].next;
      position = { epoch: next.epoch, index: next.index * worldSize };
      meter.tick(worldSize * micro.reduce((n, b) => n + b.count, 0));
      losses.add(result.loss, result.extra);
      if (!metrics) continue; // ranks other than 0 write nothing
      await options.onProgress?.({
        kind: spec.kind,
        step,
        maxSteps,
        epoch: position.epoch,
        loss: result.loss,
        smoothLoss: losses.smooth,
        gradNorm: result.gradNorm,
        stepsPerSecond: meter.stepsPerSecond,
        samplesPerSecond: meter.samplesPerSecond,
        etaSeconds: meter.eta(maxSteps !== null ? maxSteps - step : null),
        lr: spec.lr(),
        extra: result.extra,
      });
      if (step % spec.logEvery === 0) {
        const interval = losses.takeInterval();
        await metrics.append({
          step,
          epoch: position.epoch,
          loss: interval.loss,
          ...interval.extra,
          lr: spec.lr(),
          steps_per_sec: meter.stepsPerSecond,
          samples_per_sec: meter.samplesPerSecond,
          time: new Date().toISOString(),
        });
        await curve();
        await log.write(spec.logLine(step, interval, meter.stepsPerSecond));
      }
      if (spec.samples && spec.sampleEvery > 0 && step % spec.sampleEvery === 0) {
        const line = await spec.samples(step);
        if (line) await log.write(line);
        meter.reset();
      }
      if (step % spec.checkpointEvery === 0) {
        lastCheckpoint = await save();
        meter.reset();
      }
    }
  } finally {
    await stream.return(undefined);
  }
  if (isMain && step > 0 && lastCheckpointStep !== step) lastCheckpoint = await save();
  if (metrics && metrics.entries.length > 0) await curve();
  await log.write(`stopped (${stopped}) at step ${step}`);
  return { runDir: spec.runDir, step, epoch: position.epoch, checkpoint: lastCheckpoint, firstLoss: losses.first, lastLoss: losses.last, stopped };
}
