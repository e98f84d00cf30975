import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centerCropArr } from './crop';
import { decodeImageFile } from './decode-node';
import { loadLabelledFolder, openImageDataset, scanImageFolder } from './folder';
import { type EpochReport, type ImageBatch, ImageLoader, type ImageLoaderOptions } from './loader';
import { normalizeImage } from './normalize';
import { FASHION_CLASSES, buildWorkerScript, scratchDir, writeFashionMnistFolder } from './test-util';

let root: string;
let corrupt: string[];
let workerScript: string;
const PER_CLASS = 20;
const SIZE = 32;

beforeAll(async () => {
  ({ root, corrupt } = await writeFashionMnistFolder('fashion', PER_CLASS));
  workerScript = await buildWorkerScript();
});

async function collect(loader: ImageLoader, options: Parameters<ImageLoader['batches']>[0]): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of loader.batches(options)) out.push(b);
  return out;
}

describe('scanImageFolder (ImageFolder semantics)', () => {
  it('sorts class folders, labels by position, lists images in sorted order', async () => {
    const ds = await scanImageFolder(root);
    expect(ds.classes.map((c) => c.name)).toEqual([...FASHION_CLASSES].sort());
    expect(ds.samples).toHaveLength(10 * PER_CLASS + 2);
    const bag = ds.classes.findIndex((c) => c.name === 'Bag');
    const bagSamples = ds.samples.filter((s) => s.label === bag).map((s) => s.path);
    expect(bagSamples[0]).toBe(join(root, 'Bag', '000.png'));
    expect(bagSamples.at(-1)).toBe(join(root, 'Bag', 'zzz_corrupt.png'));
    for (const s of ds.samples) expect(s.path.startsWith(join(root, ds.classes[s.label].name))).toBe(true);
    // labels are non-decreasing: class by class
    expect(ds.samples.every((s, i) => i === 0 || s.label >= ds.samples[i - 1].label)).toBe(true);
  });

  it('walks nested folders in sorted(os.walk) order', async () => {
    const dir = scratchDir('nested');
    for (const p of ['a/x.jpg', 'a/b/y.png', 'a/b/c/z.JPEG', 'a/ab/w.png', 'a/readme.txt']) {
      mkdirSync(join(dir, p, '..'), { recursive: true });
      writeFileSync(join(dir, p), '');
    }
    const ds = await scanImageFolder(dir);
    expect(ds.samples.map((s) => s.path.slice(dir.length + 1))).toEqual(['a/x.jpg', 'a/ab/w.png', 'a/b/y.png', 'a/b/c/z.JPEG']);
  });

  it('gives clear errors for a missing root, no class folders, and empty classes', async () => {
    await expect(scanImageFolder(join(root, 'nope'))).rejects.toThrow(/dataset root ".*nope" does not exist/);
    const flat = scratchDir('flat');
    writeFileSync(join(flat, 'a.png'), '');
    await expect(scanImageFolder(flat)).rejects.toThrow(/no class folders/);
    const empty = scratchDir('empty-class');
    mkdirSync(join(empty, 'cat'));
    mkdirSync(join(empty, 'dog'));
    writeFileSync(join(empty, 'dog', 'a.png'), '');
    await expect(scanImageFolder(empty)).rejects.toThrow(/without images in .*: cat/);
    expect((await scanImageFolder(empty, { allowEmptyClasses: true })).samples).toHaveLength(1);
  });

  it('reads a flat validation folder with a labels file (text and LOC_val_solution.csv)', async () => {
    const dir = scratchDir('val');
    for (const f of ['ILSVRC2012_val_00000001.JPEG', 'ILSVRC2012_val_00000002.JPEG', 'ILSVRC2012_val_00000003.JPEG']) writeFileSync(join(dir, f), '');
    const txt = join(dir, '..', 'val.txt');
    writeFileSync(txt, 'ILSVRC2012_val_00000002.JPEG 207\nILSVRC2012_val_00000001.JPEG n01440764\nILSVRC2012_val_00000003 tench\n');
    const ds = await loadLabelledFolder(dir, txt);
    expect(ds.samples.map((s) => s.label)).toEqual([0, 207, 0]);
    expect(ds.classes).toHaveLength(1000);
    const csv = join(dir, '..', 'LOC_val_solution.csv');
    writeFileSync(csv, 'ImageId,PredictionString\nILSVRC2012_val_00000003,n01443537 1 2 3 4 n01443537 5 6 7 8\nILSVRC2012_val_00000001,n15075141 1 2 3 4\n');
    const ds2 = await openImageDataset(dir, { labels: csv });
    expect(ds2.samples.map((s) => [s.path.slice(-9), s.label])).toEqual([['0001.JPEG', 999], ['0003.JPEG', 1]]);
    writeFileSync(txt, '1\n2\n');
    await expect(loadLabelledFolder(dir, txt)).rejects.toThrow(/val.txt:1: expected "<file> <label>".*ILSVRC2012_IDs/);
    writeFileSync(txt, 'ILSVRC2012_val_00000009.JPEG 3\n');
    await expect(loadLabelledFolder(dir, txt)).rejects.toThrow(/not in/);
    writeFileSync(txt, 'ILSVRC2012_val_00000001.JPEG golden retreiver\n');
    await expect(loadLabelledFolder(dir, txt)).rejects.toThrow(/val.txt:1: unknown class "golden retreiver"; did you mean: golden retriever/);
  });
});

describe('ImageLoader', () => {
  const loaders: ImageLoader[] = [];
  afterAll(async () => {
    for (const l of loaders) await l.close();
  });
  const make = async (o: Partial<ImageLoaderOptions> = {}) => {
    const reports: EpochReport[] = [];
    const l = new ImageLoader({
      dataset: await scanImageFolder(root),
      batchSize: 16,
      imageSize: SIZE,
      seed: 3,
      workerScript,
      onEpochEnd: (r) => reports.push(r),
      ...o,
    });
    loaders.push(l);
    return { loader: l, reports };
  };

  it('decodes on worker threads exactly as on the calling thread, skipping and reporting corrupt files', async () => {
    const { loader, reports } = await make({ workers: 2 });
    const { loader: inline, reports: inlineReports } = await make({ workers: 0 });
    const a = await collect(loader, { epochs: 1 });
    const b = await collect(inline, { epochs: 1 });
    expect(a.length).toBe(Math.floor(200 / 16));
    expect(a.map((x) => x.images)).toEqual(b.map((x) => x.images));
    expect(a.map((x) => x.labels)).toEqual(b.map((x) => x.labels));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ epoch: 0, batches: 12, images: 192, dropped: 8 });
    expect(reports[0].skipped.map((s) => s.path).sort()).toEqual([...corrupt].sort());
    expect(reports[0].skipped.every((s) => /cannot decode image/.test(s.error))).toBe(true);
    // libvips words some errors differently per thread; which files and where must agree
    const strip = (r: EpochReport) => ({ ...r, skipped: r.skipped.map(({ path, index }) => ({ path, index })) });
    expect(strip(inlineReports[0])).toEqual(strip(reports[0]));
    const seen = new Set(a.flatMap((x) => Array.from(x.indices)));
    expect(seen.size).toBe(192);
  });

  it('yields ADM crops, flipped as reported, ImageNet-normalised in NCHW, with the right labels', async () => {
    const { loader } = await make({ workers: 0 });
    const ds = await scanImageFolder(root);
    const [batch] = await collect(loader, { epochs: 1 }).then((bs) => bs.slice(0, 1));
    expect(batch.shape).toEqual([16, 3, SIZE, SIZE]);
    expect(batch.flipped.some((f) => f === 1) && batch.flipped.some((f) => f === 0)).toBe(true);
    for (let i = 0; i < 16; i++) {
      const sample = ds.samples[batch.indices[i]];
      expect(batch.labels[i]).toBe(sample.label);
      const crop = centerCropArr(await decodeImageFile(sample.path), SIZE);
      const want = normalizeImage(crop, { normalization: 'imagenet', layout: 'nchw', flip: batch.flipped[i] === 1 });
      expect(batch.images.subarray(i * want.length, (i + 1) * want.length)).toEqual(want);
    }
  });

  it('resumes exactly from a batch position, across epochs', async () => {
    const { loader } = await make({ workers: 1, batchSize: 24 });
    const whole = await collect(loader, { epochs: 2 });
    expect(whole.map((b) => b.epoch)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    const cut = whole[5].next;
    const { loader: again } = await make({ workers: 2, batchSize: 24, prefetch: 3 });
    const rest = await collect(again, { from: cut, epochs: 2 });
    expect(rest.map((b) => b.indices)).toEqual(whole.slice(6).map((b) => b.indices));
    expect(rest.map((b) => b.images)).toEqual(whole.slice(6).map((b) => b.images));
    // epoch 1 is a different order from epoch 0
    expect(whole[8].indices).not.toEqual(whole[0].indices);
  });

  it('shards over ranks like DistributedSampler and keeps the last partial batch when asked', async () => {
    const ranks = await Promise.all(
      [0, 1, 2].map(async (rank) => {
        const { loader, reports } = await make({ workers: 0, rank, worldSize: 3, batchSize: 10, dropLast: false, format: 'uint8' });
        const batches = await collect(loader, { epochs: 1 });
        return { batches, report: reports[0] };
      }),
    );
    const indices = ranks.flatMap((r) => r.batches.flatMap((b) => Array.from(b.indices)));
    // 202 samples padded to 204 = 3 × 68; two corrupt files skipped once each (or twice if padded in)
    const skipped = ranks.reduce((n, r) => n + r.report.skipped.length, 0);
    expect(indices.length + skipped).toBe(204);
    expect(new Set(indices).size).toBe(200);
    const b = ranks[0].batches[0];
    expect(b.shape).toEqual([10, SIZE, SIZE, 3]);
    expect(b.images).toBeInstanceOf(Uint8Array);
    expect(ranks[0].batches.at(-1)!.shape[0]).toBeLessThan(10);
  });

  it('rejects bad options', async () => {
    const ds = await scanImageFolder(root);
    expect(() => new ImageLoader({ dataset: ds, batchSize: 0, workers: 0 })).toThrow(/batchSize/);
    expect(() => new ImageLoader({ dataset: ds, batchSize: 4, rank: 3, worldSize: 2, workers: 0 })).toThrow(/rank/);
    expect(() => new ImageLoader({ dataset: ds, batchSize: 4, format: 'uint8', layout: 'nchw', workers: 0 })).toThrow(/nhwc/);
    expect(() => new ImageLoader({ dataset: ds, batchSize: 4, imageSize: 0, workers: 0 })).toThrow(/imageSize/);
    expect(() => new ImageLoader({ dataset: ds, batchSize: 4, flipProbability: 2, workers: 0 })).toThrow(/flipProbability/);
    const l = new ImageLoader({ dataset: ds, batchSize: 4, workers: 0 });
    await expect(l.epoch(0, 10_000).next()).rejects.toThrow(/resume index/);
  });

  it('fails loudly (not by skipping everything) when the worker script is missing', async () => {
    const { loader } = await make({ workers: 1, workerScript: join(root, 'no-such-worker.mjs') });
    await expect(collect(loader, { epochs: 1 })).rejects.toThrow(/image worker/);
  });
});
