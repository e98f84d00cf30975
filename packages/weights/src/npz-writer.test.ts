import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WeightsFormatError } from './errors';
import { type NpyArraySpec, NpzFileWriter, npzFileInfo, openNpzArray, readNpzFile } from './node';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'svg-npzw-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const N = 9;
const SPECS: NpyArraySpec[] = [
  { name: 'arr_0', dtype: 'U8', shape: [N, 4, 5, 3] },
  { name: 'arr_1', dtype: 'I64', shape: [N] },
  { name: 'mu', dtype: 'F64', shape: [3] },
];
const image = (i: number) => Uint8Array.from({ length: 60 }, (_, j) => (i * 61 + j * 7) % 256);
const images = (from: number, count: number) => {
  const out = new Uint8Array(60 * count);
  for (let k = 0; k < count; k++) out.set(image(from + k), 60 * k);
  return out;
};

describe('NpzFileWriter', () => {
  it('writes an archive the npz reader reads back exactly (CRCs checked)', async () => {
    const path = join(root, 'out', 'samples.npz');
    const w = await NpzFileWriter.create(path, SPECS);
    await w.writeRows('arr_1', 0, BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 4)));
    await w.writeRows('mu', 0, Float64Array.from([1.5, -2, Math.PI]));
    for (let i = 0; i < N; i += 4) await w.writeRows('arr_0', i, images(i, Math.min(4, N - i)));
    await w.finish();
    expect(await readdir(join(root, 'out'))).toEqual(['samples.npz']);
    const arrays = await readNpzFile(path);
    expect([...arrays.keys()]).toEqual(['arr_0', 'arr_1', 'mu']);
    expect(arrays.get('arr_0')!.shape).toEqual([N, 4, 5, 3]);
    expect(arrays.get('arr_0')!.data).toEqual(images(0, N));
    expect([...(arrays.get('arr_1')!.data as BigInt64Array)]).toEqual(Array.from({ length: N }, (_, i) => BigInt(i % 4)));
    expect([...(arrays.get('mu')!.data as Float64Array)]).toEqual([1.5, -2, Math.PI]);
    const info = await npzFileInfo(path);
    expect(info.map((m) => [m.name, m.compressed, m.fortranOrder, (m.dataOffset + 0) % 64])).toEqual([
      ['arr_0', false, false, 0],
      ['arr_1', false, false, 0],
      ['mu', false, false, 0],
    ]);
    const reader = await openNpzArray(path, 'arr_0');
    expect((await reader.readRows(5, 3)).data).toEqual(images(5, 3));
    await reader.close();
  });

  it('continues a killed archive after its last recorded rows, and gives the same file', async () => {
    const path = join(root, 'resumed.npz');
    const meta = { steps: 25, seed: 0 };
    const first = await NpzFileWriter.create(path, SPECS, { resume: true, meta });
    await first.writeRows('arr_1', 0, new BigInt64Array(N));
    await first.writeRows('arr_0', 0, images(0, 5));
    await first.close(); // killed: no finish
    await expect(readdir(root)).resolves.not.toContain('resumed.npz');

    const second = await NpzFileWriter.create(path, SPECS, { resume: true, meta });
    expect(second.rowsDone).toEqual({ arr_0: 5, arr_1: N, mu: 0 });
    await second.writeRows('mu', 0, new Float64Array(3));
    await second.writeRows('arr_0', 5, images(5, N - 5));
    await second.finish();
    expect((await readNpzFile(path)).get('arr_0')!.data).toEqual(images(0, N));
    expect((await readdir(root)).sort()).toEqual(['resumed.npz']);
  });

  it('refuses to continue with other settings, gaps, wrong row sizes and unfinished arrays', async () => {
    const path = join(root, 'x.npz');
    const w = await NpzFileWriter.create(path, SPECS, { resume: true, meta: { cfg: 4 } });
    await expect(w.writeRows('arr_0', 2, images(2, 1))).rejects.toThrow(/rows \[2, 3\) do not follow the 0 done/);
    await expect(w.writeRows('arr_0', 0, new Uint8Array(61))).rejects.toThrow(/61 bytes is not a whole number of rows of 60/);
    await expect(w.writeRows('nope', 0, new Uint8Array(1))).rejects.toThrow(/no array "nope" \(arrays: arr_0, arr_1, mu\)/);
    await expect(w.finish()).rejects.toThrow(WeightsFormatError);
    await w.close();
    await expect(NpzFileWriter.create(path, SPECS, { resume: true, meta: { cfg: 1 } })).rejects.toThrow(/was started with other arrays or settings .*"cfg":4/);
  });
});
