import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPngText } from '@svg/data-imagenet';
import { MetricsLog, RateMeter, writeLossCurve } from './metrics';
import { niceTicks, plotCurves } from './plot';

describe('plot', () => {
  it('chooses 1-2-5 ticks covering the range', () => {
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0.63, 2.1, 5)).toEqual([0.5, 1, 1.5, 2, 2.5]);
  });

  it('draws the series in its colour inside the axes', () => {
    const red: [number, number, number] = [200, 0, 0];
    const c = plotCurves([{ name: 'loss', points: [[0, 2], [50, 1], [100, 0.5]], color: red }], { width: 200, height: 120 });
    expect(c.pixels.length).toBe(200 * 120 * 3);
    let redPixels = 0;
    for (let i = 0; i < c.pixels.length; i += 3) if (c.pixels[i] === 200 && c.pixels[i + 1] === 0) redPixels++;
    expect(redPixels).toBeGreaterThan(100);
    // Non-finite points are skipped, empty plots do not throw.
    expect(() => plotCurves([{ name: 'x', points: [[0, NaN]], color: red }])).not.toThrow();
  });
});

describe('metrics', () => {
  it('appends JSONL, drops lines beyond a resumed step and cut lines, and plots a PNG', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'svg-metrics-'));
    const file = join(dir, 'metrics.jsonl');
    const log = await MetricsLog.open(file);
    for (const step of [10, 20, 30]) await log.append({ step, loss: 1 / step });
    await writeFile(file, `${await readFile(file, 'utf8')}{"step": 40, "lo`); // a crash mid-line
    const resumed = await MetricsLog.open(file, 20);
    expect(resumed.entries.map((e) => e.step)).toEqual([10, 20]);
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(2);
    expect(resumed.series('loss')).toEqual([[10, 0.1], [20, 0.05]]);
    await writeLossCurve(join(dir, 'loss.png'), resumed, ['loss'], 'test: loss');
    expect(readPngText(await readFile(join(dir, 'loss.png'))).Title).toBe('test: loss');
    expect((await MetricsLog.open(file)).entries).toEqual([]); // a fresh run starts empty
    await rm(dir, { recursive: true, force: true });
  });

  it('measures steps/s and ETA over a window', () => {
    const m = new RateMeter(4);
    for (let i = 0; i <= 10; i++) m.tick(8, i * 500);
    expect(m.stepsPerSecond).toBeCloseTo(2, 6);
    expect(m.samplesPerSecond).toBeCloseTo(16, 6);
    expect(m.eta(10)).toBeCloseTo(5, 6);
    expect(m.eta(null)).toBeNull();
  });
});
