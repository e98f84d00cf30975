import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const worker = `${root}test/mpi-worker.mjs`;

/** Runs the worker on `np` ranks under Open MPI's mpirun; returns its output, exit status and wall time. */
function mpirun(np: number, scenario: string, env: Record<string, string> = {}) {
  const started = Date.now();
  const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', String(np), process.execPath, worker, scenario], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  const results = new Map<number, any>();
  for (const line of r.stdout.split('\n')) {
    const m = /^RESULT (\d+) (.*)$/.exec(line);
    if (m) results.set(Number(m[1]), JSON.parse(m[2]));
  }
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, results, seconds: (Date.now() - started) / 1000, error: r.error };
}

beforeAll(() => {
  if (!existsSync(`${root}dist/index.js`)) throw new Error('build @svg/distributed first (npx tsup): the MPI ranks run the built package');
  if (!existsSync(`${root}build/Release/svg_mpi.node`)) throw new Error('the MPI addon is not built: apt-get install libopenmpi-dev, then npm run build:native');
});

describe('two ranks under mpirun', () => {
  it('averages tensors across buckets, broadcasts from any root, agrees on flags', () => {
    const r = mpirun(2, 'collectives');
    expect(r.error).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect([...r.results.keys()].sort()).toEqual([0, 1]);
    const shapes = [[3], [4, 5], [16], [1], [7, 9]];
    for (const rank of [0, 1]) {
      const res = r.results.get(rank);
      expect(res.info).toEqual({ rank, worldSize: 2, localRank: rank, localSize: 2, launcher: 'mpirun' });
      // Rank r holds range + 100·i + 1000·r: the mean over the two ranks is range + 100·i + 500.
      res.means.forEach((m: { shape: number[]; values: number[] }, i: number) => {
        expect(m.shape).toEqual(shapes[i]);
        expect(m.values).toEqual(m.values.map((_, k) => k + 100 * i + 500));
      });
      expect(res.tensorsAfter).toBe(0); // the inputs were disposed, the outputs replace them
      expect(res.json).toEqual({ step: 7, path: 'a/b' });
      expect(res.bytes).toEqual([5, 6, 7]);
      expect([res.any, res.none]).toEqual([true, false]);
      expect(res.stats.allReduceBytes).toBe(4 * (3 + 20 + 16 + 1 + 63) + 8 * 2);
    }
  });

  it('a rank that stops answering makes the other fail with a clear error after the timeout, not hang', () => {
    const r = mpirun(2, 'hang', { TEST_TIMEOUT: '2' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERROR rank 0/2: gradient all-reduce waited 2 s for the other ranks');
    expect(r.seconds).toBeLessThan(30); // the sleeping rank would hold the job for 60 s
  });

  it('a rank killed with SIGKILL ends the job within seconds', () => {
    const r = mpirun(2, 'die');
    expect(r.status).not.toBe(0);
    expect(r.results.size).toBe(0);
    expect(r.seconds).toBeLessThan(30); // the survivor's collective timeout is 60 s
  });
});
