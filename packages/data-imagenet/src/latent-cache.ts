import { type FileHandle, mkdir, open, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type RawTensor, type SafetensorsHeader, readSafetensors, writeSafetensors } from '@svg/weights';
import { readSafetensorsHeader, writeFileAtomic } from '@svg/weights/node';
import { type ClassInfo, classesFromNames } from './classes';
import type { ImageDataset } from './dataset';
import { type ImageJobResult, runImageJob } from './job';
import type { LoaderPosition } from './loader';
import { type Layout, type Normalization, writeNormalized } from './normalize';
import { WorkerPool } from './pool';
import { type ShardOptions, flipDecision, shardIndices, shardLength } from './sampler';
import { type ChannelStats, ChannelStatsAccumulator } from './stats';

const FORMAT = 'svg-latent-cache';
const VERSION = 1;
const INDEX_FILE = 'index.json';

/**
 * The user's encoder: a batch of `count` normalised images (`[count, 3, S, S]` for `nchw`, `[count, S, S, 3]`
 * for `nhwc`) to `count` latents of the cache's `latentShape`, contiguous float32.
 */
export type LatentEncoder = (images: Float32Array, shape: readonly [number, number, number, number]) => Promise<Float32Array>;

/** Options of {@link writeLatentCache}. */
export interface WriteLatentCacheOptions {
  dataset: ImageDataset;
  /** Output folder (created). Shards already complete there are kept, so an interrupted run resumes. */
  dir: string;
  encode: LatentEncoder;
  /** Shape of one latent, e.g. `[392, 16, 16]`. */
  latentShape: readonly number[];
  /** Images per encoder call. Default 32. */
  batchSize?: number;
  /** Crop size. Default 256. */
  imageSize?: number;
  /** Encoder input normalisation. Default `imagenet` (SVG's `x_in`). */
  normalization?: Normalization;
  /** Encoder input layout. Default `nchw`. */
  layout?: Layout;
  /** Also encode each image mirrored (for `RandomHorizontalFlip` on cached latents). Default true. */
  flips?: boolean;
  /**
   * Dataset samples per shard file. Default 256 (a shard is assembled in memory: for SVG's `[392, 16, 16]`
   * latents with flips that is ≈ 200 MB).
   */
  shardSize?: number;
  /** Decoding worker threads (0: calling thread). Default min(2, cores). */
  workers?: number;
  workerScript?: string | URL;
  /** Progress after every encoded batch. */
  onProgress?: (progress: { done: number; total: number; skipped: number }) => void;
}

/** The cache's `index.json`. */
export interface LatentCacheIndex {
  format: typeof FORMAT;
  version: number;
  latentShape: number[];
  flips: boolean;
  imageSize: number;
  normalization: Normalization;
  batchSize: number;
  /** Class names by label index, and wnids where known. */
  classes: { name: string; wnid?: string }[];
  /** Cached latents (skipped images excluded). */
  count: number;
  shards: { file: string; count: number }[];
  skipped: { path: string; error: string }[];
}

/** A shard's safetensors header, without its data. */
async function readShardHeader(path: string): Promise<SafetensorsHeader> {
  if (!(await exists(path))) throw new Error(`latent cache shard "${path}" is missing`);
  return readSafetensorsHeader(path);
}

function shardName(k: number): string {
  return `shard-${String(k).padStart(5, '0')}.safetensors`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Encodes a dataset once and writes sharded safetensors of latents: each shard holds `latents`
 * (`[n, ...latentShape]` F32), `latents_flipped` (the mirrored images' latents, when `flips`), `labels` (I32)
 * and `indices` (I32, dataset index); shard `k` covers dataset samples `[k·shardSize, (k+1)·shardSize)` in
 * dataset order, minus unreadable images. Images are centre-cropped exactly as for training ({@link centerCropArr}).
 * Encoder batches are consecutive dataset samples, and the mirrored latents come from a batch of the same images
 * mirrored — this matters for encoders with batch-dependent normalisation (SVG's `match_distribution`, spec D14).
 * Writes `index.json` last; an interrupted run resumes at the first missing shard.
 */
export async function writeLatentCache(options: WriteLatentCacheOptions): Promise<LatentCacheIndex> {
  const { dataset, dir, encode } = options;
  const latentShape = [...options.latentShape];
  const latentSize = latentShape.reduce((a, b) => a * b, 1);
  if (!(latentSize > 0)) throw new Error(`latentShape must be positive sizes, got [${latentShape.join(', ')}]`);
  const batchSize = options.batchSize ?? 32;
  const size = options.imageSize ?? 256;
  const normalization = options.normalization ?? 'imagenet';
  const layout = options.layout ?? 'nchw';
  const flips = options.flips ?? true;
  const shardSize = options.shardSize ?? 256;
  const total = dataset.samples.length;
  if (total === 0) throw new Error(`dataset "${dataset.root}" has no images`);
  for (const [name, v] of Object.entries({ batchSize, imageSize: size, shardSize })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  }
  await mkdir(dir, { recursive: true });
  const workers = options.workers ?? Math.min(2, availableParallelism());
  const pool = workers > 0 ? new WorkerPool(workers, options.workerScript) : undefined;
  const per = 3 * size * size;
  // Written into every shard; a resumed run must match it.
  const settings = JSON.stringify({ samples: total, shardSize, latentShape, flips, imageSize: size, normalization, layout, batchSize });
  const shards: LatentCacheIndex['shards'] = [];
  const skipped: LatentCacheIndex['skipped'] = [];
  let processed = 0;

  const load = (index: number): Promise<ImageJobResult> => {
    const job = { path: dataset.samples[index].path, size, flip: false, format: 'uint8' as const, layout: 'nhwc' as const };
    const p = pool ? pool.run(job) : runImageJob({ ...job, id: index });
    p.catch(() => undefined);
    return p;
  };
  const runEncoder = async (images: Float32Array, n: number): Promise<Float32Array> => {
    const shape: [number, number, number, number] = layout === 'nchw' ? [n, 3, size, size] : [n, size, size, 3];
    const out = await encode(images, shape);
    if (!(out instanceof Float32Array) || out.length !== n * latentSize) {
      throw new Error(`encoder returned ${out?.length} values for ${n} images; expected ${n} × [${latentShape.join(', ')}] = ${n * latentSize} float32`);
    }
    return out;
  };

  try {
    for (let k = 0; k * shardSize < total; k++) {
      const file = shardName(k);
      const path = join(dir, file);
      const first = k * shardSize;
      const end = Math.min(total, first + shardSize);
      if (await exists(path)) {
        const { metadata } = await readShardHeader(path);
        if (metadata.settings !== settings) {
          throw new Error(
            `"${path}" was written with other settings (${metadata.settings ?? 'unknown'}; now ${settings}): ` +
              'use another folder or delete the old shards',
          );
        }
        const prior = JSON.parse(metadata.skipped ?? '[]') as LatentCacheIndex['skipped'];
        shards.push({ file, count: end - first - prior.length });
        skipped.push(...prior);
        processed += end - first;
        continue;
      }
      const latents = new Float32Array((end - first) * latentSize);
      const latentsFlipped = flips ? new Float32Array((end - first) * latentSize) : undefined;
      const labels: number[] = [];
      const indices: number[] = [];
      const shardSkipped: LatentCacheIndex['skipped'] = [];
      const window = 2 * batchSize;
      const pending = new Map<number, Promise<ImageJobResult>>();
      let next = first;
      for (let i = first; i < end; ) {
        const crops: { index: number; data: Uint8Array }[] = [];
        while (crops.length < batchSize && i < end) {
          for (; next < end && next < i + window; next++) pending.set(next, load(next));
          const r = await pending.get(i)!;
          pending.delete(i);
          if (r.ok) crops.push({ index: i, data: r.pixels as Uint8Array });
          else shardSkipped.push({ path: dataset.samples[i].path, error: r.error });
          i++;
          processed++;
        }
        if (crops.length === 0) continue;
        const n = crops.length;
        const images = new Float32Array(n * per);
        const mirrored = flips ? new Float32Array(n * per) : undefined;
        crops.forEach((c, j) => {
          const img = { width: size, height: size, data: c.data };
          writeNormalized(img, images, j * per, { normalization, layout });
          if (mirrored) writeNormalized(img, mirrored, j * per, { normalization, layout, flip: true });
          labels.push(dataset.samples[c.index].label);
          indices.push(c.index);
        });
        const at = (labels.length - n) * latentSize;
        latents.set(await runEncoder(images, n), at);
        if (mirrored && latentsFlipped) latentsFlipped.set(await runEncoder(mirrored, n), at);
        options.onProgress?.({ done: processed, total, skipped: skipped.length + shardSkipped.length });
      }
      const n = labels.length;
      const tensors: Record<string, RawTensor> = {
        latents: { dtype: 'F32', shape: [n, ...latentShape], data: latents.subarray(0, n * latentSize) },
        labels: { dtype: 'I32', shape: [n], data: Int32Array.from(labels) },
        indices: { dtype: 'I32', shape: [n], data: Int32Array.from(indices) },
      };
      if (latentsFlipped) {
        tensors.latents_flipped = { dtype: 'F32', shape: [n, ...latentShape], data: latentsFlipped.subarray(0, n * latentSize) };
      }
      const bytes = writeSafetensors(tensors, {
        format: FORMAT,
        version: String(VERSION),
        settings,
        skipped: JSON.stringify(shardSkipped),
      });
      await writeFileAtomic(path, bytes);
      shards.push({ file, count: n });
      skipped.push(...shardSkipped);
    }
  } finally {
    await pool?.close();
  }
  const index: LatentCacheIndex = {
    format: FORMAT,
    version: VERSION,
    latentShape,
    flips,
    imageSize: size,
    normalization,
    batchSize,
    classes: dataset.classes.map((c) => (c.wnid ? { name: c.name, wnid: c.wnid } : { name: c.name })),
    count: shards.reduce((a, s) => a + s.count, 0),
    shards,
    skipped,
  };
  await writeFileAtomic(join(dir, INDEX_FILE), `${JSON.stringify(index, null, 1)}\n`);
  return index;
}

/** One batch of cached latents. */
export interface LatentBatch {
  /** `[B, ...latentShape]` float32. */
  readonly latents: Float32Array;
  readonly shape: readonly number[];
  readonly labels: Int32Array;
  /** Position of each latent in the cache (0..count-1). */
  readonly positions: Int32Array;
  /** 1 where the mirrored image's latent was used. */
  readonly flipped: Uint8Array;
  readonly epoch: number;
  /** Resume position after this batch. */
  readonly next: LoaderPosition;
}

/** Options of {@link LatentCache.batches}. */
export interface LatentBatchOptions {
  batchSize: number;
  seed?: number;
  shuffle?: boolean;
  rank?: number;
  worldSize?: number;
  shardDropLast?: boolean;
  /** Drop the incomplete final batch. Default true. */
  dropLast?: boolean;
  /** Probability of using the mirrored latent (needs a cache written with flips). Default 0.5 if available, else 0. */
  flipProbability?: number;
  from?: LoaderPosition;
  epochs?: number;
  /** Batches read ahead. Default 2. */
  prefetch?: number;
}

interface OpenShard {
  file: Promise<FileHandle>;
  users: number;
  evicted: boolean;
}

async function closeQuietly(file: Promise<FileHandle>): Promise<void> {
  try {
    await (await file).close();
  } catch {
    // already closed or never opened
  }
}

interface ShardInfo {
  path: string;
  count: number;
  dataStart: number;
  latentsBegin: number;
  flippedBegin: number;
}

/**
 * Reads a latent cache written by {@link writeLatentCache}: random access to single latents (positioned reads,
 * at most `maxOpenFiles` shard files open), shuffled sharded batches with the same sampler semantics as the image
 * loader, and per-channel statistics.
 */
export class LatentCache {
  /** Label of each cached latent. */
  readonly labels: Int32Array;
  /** Dataset index of each cached latent. */
  readonly indices: Int32Array;
  readonly latentSize: number;
  private readonly shardOf: Int32Array;
  private readonly offsetInShard: Int32Array;
  private readonly handles = new Map<number, OpenShard>();

  private constructor(
    readonly dir: string,
    readonly index: LatentCacheIndex,
    private readonly shards: ShardInfo[],
    labels: Int32Array,
    indices: Int32Array,
    private readonly maxOpenFiles: number,
  ) {
    this.labels = labels;
    this.indices = indices;
    this.latentSize = index.latentShape.reduce((a, b) => a * b, 1);
    this.shardOf = new Int32Array(index.count);
    this.offsetInShard = new Int32Array(index.count);
    let p = 0;
    shards.forEach((s, k) => {
      for (let i = 0; i < s.count; i++, p++) {
        this.shardOf[p] = k;
        this.offsetInShard[p] = i;
      }
    });
  }

  /** Opens the cache in `dir` (reads `index.json` and every shard's header, labels and indices). */
  static async open(dir: string, options: { maxOpenFiles?: number } = {}): Promise<LatentCache> {
    let index: LatentCacheIndex;
    try {
      index = JSON.parse(await readFile(join(dir, INDEX_FILE), 'utf8')) as LatentCacheIndex;
    } catch {
      throw new Error(`no latent cache in "${dir}" (${INDEX_FILE} missing or unreadable; was writeLatentCache interrupted?)`);
    }
    if (index.format !== FORMAT || index.version !== VERSION) {
      throw new Error(`"${dir}" is not a version ${VERSION} ${FORMAT} (format ${index.format}, version ${index.version})`);
    }
    const labels = new Int32Array(index.count);
    const indices = new Int32Array(index.count);
    const shards: ShardInfo[] = [];
    let p = 0;
    for (const s of index.shards) {
      const path = join(dir, s.file);
      const header = await readShardHeader(path);
      const entry = (name: string) => header.entries.find((e) => e.name === name);
      const latents = entry('latents');
      const flipped = entry('latents_flipped');
      const lab = entry('labels');
      const ind = entry('indices');
      if (!latents || !lab || !ind || lab.shape[0] !== s.count || (index.flips && !flipped)) {
        throw new Error(`latent cache shard "${path}" does not match ${INDEX_FILE}`);
      }
      const fh = await open(path, 'r');
      try {
        const readInts = async (e: { begin: number; end: number }) => {
          const buf = new Int32Array((e.end - e.begin) / 4);
          await fh.read(new Uint8Array(buf.buffer), 0, e.end - e.begin, header.dataStart + e.begin);
          return buf;
        };
        labels.set(await readInts(lab), p);
        indices.set(await readInts(ind), p);
      } finally {
        await fh.close();
      }
      shards.push({ path, count: s.count, dataStart: header.dataStart, latentsBegin: latents.begin, flippedBegin: flipped?.begin ?? -1 });
      p += s.count;
    }
    return new LatentCache(dir, index, shards, labels, indices, options.maxOpenFiles ?? 32);
  }

  /** Number of cached latents. */
  get count(): number {
    return this.index.count;
  }

  /** Per-latent shape, e.g. `[392, 16, 16]`. */
  get latentShape(): readonly number[] {
    return this.index.latentShape;
  }

  /** Class list of the cached dataset. */
  get classes(): readonly ClassInfo[] {
    return classesFromNames(this.index.classes.map((c) => c.wnid ?? c.name));
  }

  /** The open file of shard `k` (least recently used files beyond `maxOpenFiles` are closed when idle). */
  private acquire(k: number): OpenShard {
    let h = this.handles.get(k);
    if (h) this.handles.delete(k); // re-inserted below as the most recently used
    else {
      h = { file: open(this.shards[k].path, 'r'), users: 0, evicted: false };
      h.file.catch(() => undefined);
    }
    this.handles.set(k, h);
    h.users++;
    if (this.handles.size > this.maxOpenFiles) {
      const [oldest, old] = this.handles.entries().next().value as [number, OpenShard];
      this.handles.delete(oldest);
      old.evicted = true;
      if (old.users === 0) closeQuietly(old.file);
    }
    return h;
  }

  private release(h: OpenShard): void {
    if (--h.users === 0 && h.evicted) closeQuietly(h.file);
  }

  /** Reads latent `position` (or its mirrored variant) into `out` at element `offset` (a new array by default). */
  async read(position: number, flipped = false, out = new Float32Array(this.latentSize), offset = 0): Promise<Float32Array> {
    if (!Number.isInteger(position) || position < 0 || position >= this.count) {
      throw new Error(`latent position ${position} outside [0, ${this.count})`);
    }
    const k = this.shardOf[position];
    const s = this.shards[k];
    if (flipped && s.flippedBegin < 0) throw new Error('this latent cache was written without mirrored latents (flips: false)');
    const bytes = this.latentSize * 4;
    const at = s.dataStart + (flipped ? s.flippedBegin : s.latentsBegin) + this.offsetInShard[position] * bytes;
    const h = this.acquire(k);
    try {
      const fh = await h.file;
      const { bytesRead } = await fh.read(new Uint8Array(out.buffer, out.byteOffset + offset * 4, bytes), 0, bytes, at);
      if (bytesRead !== bytes) throw new Error(`short read of latent ${position} from "${s.path}"`);
    } finally {
      this.release(h);
    }
    return out;
  }

  /** Latents per epoch and rank for these sampler options. */
  samplesPerEpoch(options: Omit<LatentBatchOptions, 'batchSize'> = {}): number {
    return shardLength(this.shardOptions(options));
  }

  private shardOptions(o: Omit<LatentBatchOptions, 'batchSize'>): ShardOptions {
    return {
      size: this.count,
      rank: o.rank ?? 0,
      worldSize: o.worldSize ?? 1,
      shuffle: o.shuffle ?? true,
      seed: o.seed ?? 0,
      dropLast: o.shardDropLast ?? false,
    };
  }

  /**
   * Batches of latents with labels: per-epoch shuffle (`seed + epoch`), `DistributedSampler` sharding, a random
   * choice of the mirrored latent with `flipProbability`, exact resume via `from` / `batch.next`.
   */
  async *batches(options: LatentBatchOptions): AsyncGenerator<LatentBatch> {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    const shard = this.shardOptions(options);
    const flipP = options.flipProbability ?? (this.index.flips ? 0.5 : 0);
    if (flipP > 0 && !this.index.flips) throw new Error('flipProbability > 0 needs a cache written with flips');
    const dropLast = options.dropLast ?? true;
    const from = options.from ?? { epoch: 0, index: 0 };
    const epochs = options.epochs ?? Infinity;
    const prefetch = Math.max(1, options.prefetch ?? 2);
    const seed = shard.seed ?? 0;
    for (let e = 0; e < epochs; e++) {
      const epoch = from.epoch + e;
      const order = shardIndices(epoch, shard);
      const start = e === 0 ? from.index : 0;
      if (!Number.isInteger(start) || start < 0 || start > order.length) {
        throw new Error(`resume index ${start} outside epoch of ${order.length} samples`);
      }
      const queue: Promise<LatentBatch>[] = [];
      const fetchBatch = (start: number): Promise<LatentBatch> => {
        const n = Math.min(batchSize, order.length - start);
        const latents = new Float32Array(n * this.latentSize);
        const labels = new Int32Array(n);
        const positions = new Int32Array(n);
        const flipped = new Uint8Array(n);
        const reads: Promise<unknown>[] = [];
        for (let i = 0; i < n; i++) {
          const p = order[start + i];
          positions[i] = p;
          labels[i] = this.labels[p];
          flipped[i] = flipDecision(seed, epoch, p, flipP) ? 1 : 0;
          reads.push(this.read(p, flipped[i] === 1, latents, i * this.latentSize));
        }
        const batch: LatentBatch = {
          latents,
          shape: [n, ...this.latentShape],
          labels,
          positions,
          flipped,
          epoch,
          next: { epoch, index: start + n },
        };
        const done = Promise.all(reads).then(() => batch);
        done.catch(() => undefined);
        return done;
      };
      let nextStart = start;
      const fill = () => {
        while (queue.length < prefetch && order.length - nextStart >= (dropLast ? batchSize : 1)) {
          queue.push(fetchBatch(nextStart));
          nextStart += Math.min(batchSize, order.length - nextStart);
        }
      };
      fill();
      while (queue.length) {
        const batch = await queue.shift()!;
        fill();
        yield batch;
      }
    }
  }

  /**
   * Per-channel mean and std over every cached latent (all positions of each channel pooled; spec §7), read
   * shard by shard. `includeFlipped` also pools the mirrored latents. See {@link ChannelStatsAccumulator}.
   */
  async stats(
    options: { channelAxis?: number; includeFlipped?: boolean; unbiased?: boolean; stdDecimals?: number } = {},
  ): Promise<ChannelStats> {
    const acc = new ChannelStatsAccumulator(this.latentShape, options.channelAxis ?? 0);
    for (const s of this.shards) {
      const names = options.includeFlipped ? ['latents', 'latents_flipped'] : ['latents'];
      const { tensors } = readSafetensors(new Uint8Array(await readFile(s.path)), { source: s.path, names });
      for (const name of names) {
        const t = tensors.get(name);
        if (!t) throw new Error(`"${s.path}" has no ${name}`);
        acc.add(t.data as Float32Array, s.count);
      }
    }
    return acc.result(options);
  }

  /** Closes open shard files. */
  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map((h) => closeQuietly(h.file)));
  }
}
