import { appendFile, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@svg/weights/node';
import { type Series, plotCurvesPng } from './plot';

/** One line of `metrics.jsonl`: the step and whatever was measured (numbers, plus an ISO `time`). */
export interface MetricsEntry {
  step: number;
  [key: string]: number | string;
}

/**
 * `metrics.jsonl` of a run: one JSON object per logging interval. On resume the lines after the resumed step are
 * dropped (they belong to the part of the run that is being redone).
 */
export class MetricsLog {
  private constructor(
    readonly path: string,
    readonly entries: MetricsEntry[],
  ) {}

  /** Opens (or creates) the file; with `upToStep`, keeps only entries with `step ≤ upToStep` (rewriting the file). */
  static async open(path: string, upToStep: number | null = null): Promise<MetricsLog> {
    let lines: string[] = [];
    try {
      lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '');
    } catch {
      // new run
    }
    const entries: MetricsEntry[] = [];
    for (const line of lines) {
      try {
        entries.push(JSON.parse(line) as MetricsEntry);
      } catch {
        // a line cut by a crash: skip it
      }
    }
    const kept = upToStep === null ? [] : entries.filter((e) => e.step <= upToStep);
    await writeFileAtomic(path, kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
    return new MetricsLog(path, kept);
  }

  async append(entry: MetricsEntry): Promise<void> {
    this.entries.push(entry);
    await appendFile(this.path, `${JSON.stringify(entry)}\n`);
  }

  /** `[step, value]` points of one metric. */
  series(key: string): [number, number][] {
    return this.entries.filter((e) => typeof e[key] === 'number').map((e) => [e.step, e[key] as number]);
  }
}

/** Writes the loss curve PNG (`keys` of the metrics, e.g. `loss`), replacing the previous one atomically. */
export async function writeLossCurve(file: string, log: MetricsLog, keys: readonly string[], title: string): Promise<void> {
  const colors: [number, number, number][] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [148, 103, 189],
  ];
  const series: Series[] = keys.map((k, i) => ({ name: k, points: log.series(k), color: colors[i % colors.length] }));
  const png = await plotCurvesPng(series, { xLabel: 'step', title }, { Title: title, Software: 'svg-ts @svg/train' });
  await writeFileAtomic(file, png);
}

/**
 * Steps per second, samples per second and time left, from the last `window` steps (so a slow first step or a
 * checkpoint pause fades out).
 */
export class RateMeter {
  private readonly times: number[] = [];
  private readonly samples: number[] = [];

  constructor(private readonly window = 20) {}

  /** Records that one step of `samples` samples finished at `now` (ms). */
  tick(samples: number, now = performance.now()): void {
    this.times.push(now);
    this.samples.push(samples);
    if (this.times.length > this.window + 1) {
      this.times.shift();
      this.samples.shift();
    }
  }

  /** Forgets the history (after a pause such as a checkpoint or a sample grid). */
  reset(): void {
    this.times.length = 0;
    this.samples.length = 0;
  }

  get stepsPerSecond(): number {
    const n = this.times.length;
    if (n < 2) return 0;
    return ((n - 1) * 1000) / (this.times[n - 1] - this.times[0]);
  }

  get samplesPerSecond(): number {
    const n = this.times.length;
    if (n < 2) return 0;
    const s = this.samples.slice(1).reduce((a, b) => a + b, 0);
    return (s * 1000) / (this.times[n - 1] - this.times[0]);
  }

  /** Seconds left for `remainingSteps` at the current rate (null when unknown). */
  eta(remainingSteps: number | null): number | null {
    const r = this.stepsPerSecond;
    return remainingSteps === null || r === 0 ? null : remainingSteps / r;
  }
}
