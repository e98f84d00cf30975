import { availableParallelism } from 'node:os';
import type { ImageDataset } from './dataset';
import { type ImageJob, type ImageJobResult, type PixelFormat, runImageJob } from './job';
import type { Layout } from './normalize';
import { WorkerPool } from './pool';
import { type ShardOptions, flipDecision, shardIndices, shardLength } from './sampler';

/** Where a loader is in its stream: `index` samples of this rank's `epoch` have been consumed. */
export interface LoaderPosition {
  readonly epoch: number;
  readonly index: number;
}

/** One batch of prepared images. */
export interface ImageBatch {
  /** `[B, 3, S, S]` (`nchw`) or `[B, S, S, 3]` (`nhwc`) values in the loader's pixel format. */
  readonly images: Float32Array | Uint8Array;
  readonly shape: readonly [number, number, number, number];
  readonly layout: Layout;
  /** Label index of each image. */
  readonly labels: Int32Array;
  /** Dataset index of each image. */
  readonly indices: Int32Array;
  /** 1 where the image was mirrored. */
  readonly flipped: Uint8Array;
  readonly epoch: number;
  /** Resume position after this batch: pass it as `from` to continue exactly after it. */
  readonly next: LoaderPosition;
}

/** An image that could not be read or decoded, and why. */
export interface SkippedImage {
  readonly path: string;
  readonly index: number;
  readonly error: string;
}

/** What happened in one epoch (of this rank). */
export interface EpochReport {
  readonly epoch: number;
  readonly batches: number;
  readonly images: number;
  /** Unreadable or corrupt files, skipped. */
  readonly skipped: readonly SkippedImage[];
  /** Good images left in an incomplete final batch that `dropLast` discarded. */
  readonly dropped: number;
}

/** Options of {@link ImageLoader}. */
export interface ImageLoaderOptions {
  dataset: ImageDataset;
  batchSize: number;
  /** Crop size (ADM centre crop). Default 256. */
  imageSize?: number;
  /** Pixel format. Default `imagenet` (the DiT training input, spec §5.3). */
  format?: PixelFormat;
  /** Batch layout. Default `nchw` (`nhwc` is required for `uint8`). */
  layout?: Layout;
  /** Probability of a horizontal flip (`RandomHorizontalFlip`). Default 0.5; 0 disables. */
  flipProbability?: number;
  /** Shuffle each epoch (seeded by `seed + epoch`, our own PRNG). Default true. */
  shuffle?: boolean;
  /** Seed of shuffling and flips. Default 0. */
  seed?: number;
  /** Rank and world size for sharding, as `DistributedSampler`. Default 0 of 1. */
  rank?: number;
  worldSize?: number;
  /** `DistributedSampler(drop_last)`: false pads shards by wrapping (PyTorch's default). Default false. */
  shardDropLast?: boolean;
  /** Drop the incomplete final batch of an epoch (`DataLoader(drop_last=True)`, as SVG trains). Default true. */
  dropLast?: boolean;
  /** Worker threads decoding in the background; 0 decodes on the calling thread. Default min(2, cores). */
  workers?: number;
  /** Batches prepared ahead of the consumer. Default 2. */
  prefetch?: number;
  /** Worker script (default the built `worker.js` next to this module). */
  workerScript?: string | URL;
  /**
   * Called at the end of each epoch. Default: a `console.warn` when images were skipped.
   */
  onEpochEnd?: (report: EpochReport) => void;
}

/**
 * Streams batches of ADM-cropped, flipped, normalised images from an {@link ImageDataset}: per-epoch seeded
 * shuffling and rank sharding with `DistributedSampler` semantics, batching, decoding on worker threads with
 * bounded prefetch, and an exact resume position. Unreadable or corrupt files are skipped (the batch is
 * filled from the following samples) and reported at the end of the epoch.
 *
 * @example
 * const loader = new ImageLoader({ dataset: await scanImageFolder('imagenet/train'), batchSize: 32, seed: 1234 });
 * for await (const batch of loader.batches({ from: { epoch: 0, index: 0 }, epochs: 1 })) {
 *   train(batch.images, batch.shape, batch.labels);
 *   saveCheckpoint({ data: batch.next });
 * }
 * await loader.close();
 */
export class ImageLoader {
  readonly batchSize: number;
  readonly imageSize: number;
  readonly format: PixelFormat;
  readonly layout: Layout;
  /** Most recent end-of-epoch report. */
  lastReport?: EpochReport;
  private readonly dataset: ImageDataset;
  private readonly shard: ShardOptions;
  private readonly flipProbability: number;
  private readonly dropLast: boolean;
  private readonly prefetch: number;
  private readonly onEpochEnd: (report: EpochReport) => void;
  private readonly pool?: WorkerPool;

  constructor(options: ImageLoaderOptions) {
    const { dataset, batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    if (dataset.samples.length === 0) throw new Error(`dataset "${dataset.root}" has no images`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.imageSize = options.imageSize ?? 256;
    if (!Number.isInteger(this.imageSize) || this.imageSize < 1) throw new Error(`imageSize must be a positive integer, got ${this.imageSize}`);
    this.format = options.format ?? 'imagenet';
    if (!['imagenet', 'signed', 'unit', 'uint8'].includes(this.format)) {
      throw new Error(`unknown format "${this.format}" (expected imagenet, signed, unit or uint8)`);
    }
    this.layout = options.layout ?? (this.format === 'uint8' ? 'nhwc' : 'nchw');
    if (this.layout !== 'nchw' && this.layout !== 'nhwc') throw new Error(`unknown layout "${this.layout}" (expected nchw or nhwc)`);
    if (this.format === 'uint8' && this.layout !== 'nhwc') throw new Error('uint8 batches are [B, S, S, 3]: use layout "nhwc"');
    this.flipProbability = options.flipProbability ?? 0.5;
    if (!(this.flipProbability >= 0 && this.flipProbability <= 1)) throw new Error(`flipProbability must be in [0, 1], got ${this.flipProbability}`);
    this.dropLast = options.dropLast ?? true;
    this.prefetch = Math.max(1, options.prefetch ?? 2);
    this.shard = {
      size: dataset.samples.length,
      rank: options.rank ?? 0,
      worldSize: options.worldSize ?? 1,
      shuffle: options.shuffle ?? true,
      seed: options.seed ?? 0,
      dropLast: options.shardDropLast ?? false,
    };
    shardLength(this.shard); // validates rank / world size / seed
    this.onEpochEnd =
      options.onEpochEnd ??
      ((r) => {
        if (r.skipped.length) {
          console.warn(
            `epoch ${r.epoch}: skipped ${r.skipped.length} unreadable image(s), e.g. ${r.skipped[0].error}`,
          );
        }
      });
    const workers = options.workers ?? Math.min(2, availableParallelism());
    if (workers > 0) this.pool = new WorkerPool(workers, options.workerScript);
  }

  /** Samples this rank visits per epoch. */
  get samplesPerEpoch(): number {
    return shardLength(this.shard);
  }

  /** Batches per epoch when no image is skipped. */
  get batchesPerEpoch(): number {
    const n = this.samplesPerEpoch;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /**
   * Batches from position `from` (default the start of epoch 0) for `epochs` epochs (default: until the
   * consumer stops). Breaking out of the loop is fine; call {@link ImageLoader.close} at the end.
   */
  async *batches(options: { from?: LoaderPosition; epochs?: number } = {}): AsyncGenerator<ImageBatch> {
    const from = options.from ?? { epoch: 0, index: 0 };
    const epochs = options.epochs ?? Infinity;
    for (let e = 0; e < epochs; e++) {
      yield* this.epoch(from.epoch + e, e === 0 ? from.index : 0);
    }
  }

  /** The batches of one epoch, starting after `startIndex` consumed samples. */
  async *epoch(epoch: number, startIndex = 0): AsyncGenerator<ImageBatch> {
    const order = shardIndices(epoch, this.shard);
    if (!Number.isInteger(startIndex) || startIndex < 0 || startIndex > order.length) {
      throw new Error(`resume index ${startIndex} outside epoch of ${order.length} samples`);
    }
    const { batchSize, imageSize: size, format, layout } = this;
    const seed = this.shard.seed ?? 0;
    const window = this.prefetch * batchSize;
    const pending = new Map<number, Promise<ImageJobResult>>();
    const skipped: SkippedImage[] = [];
    let submitted = startIndex;
    let pos = startIndex;
    let batches = 0;
    let images = 0;
    let dropped = 0;
    const submit = () => {
      for (; submitted < order.length && submitted < pos + window; submitted++) {
        const index = order[submitted];
        const job: Omit<ImageJob, 'id'> = {
          path: this.dataset.samples[index].path,
          size,
          flip: flipDecision(seed, epoch, index, this.flipProbability),
          format,
          layout,
        };
        const p = this.pool ? this.pool.run(job) : runImageJob({ ...job, id: submitted });
        p.catch(() => undefined); // rejections are seen when awaited; none is left unhandled if the consumer stops
        pending.set(submitted, p);
      }
    };
    const per = 3 * size * size;
    for (;;) {
      const got: { index: number; flip: boolean; pixels: Float32Array | Uint8Array }[] = [];
      while (got.length < batchSize && pos < order.length) {
        submit();
        const r = await pending.get(pos)!;
        pending.delete(pos);
        const index = order[pos++];
        if (r.ok) got.push({ index, flip: flipDecision(seed, epoch, index, this.flipProbability), pixels: r.pixels });
        else skipped.push({ path: this.dataset.samples[index].path, index, error: r.error });
      }
      if (got.length === 0) break;
      if (got.length < batchSize && this.dropLast) {
        dropped = got.length;
        break;
      }
      const b = got.length;
      const out = format === 'uint8' ? new Uint8Array(b * per) : new Float32Array(b * per);
      const labels = new Int32Array(b);
      const indices = new Int32Array(b);
      const flipped = new Uint8Array(b);
      got.forEach((g, i) => {
        out.set(g.pixels, i * per);
        labels[i] = this.dataset.samples[g.index].label;
        indices[i] = g.index;
        flipped[i] = g.flip ? 1 : 0;
      });
      batches++;
      images += b;
      yield {
        images: out,
        shape: layout === 'nchw' ? [b, 3, size, size] : [b, size, size, 3],
        layout,
        labels,
        indices,
        flipped,
        epoch,
        next: { epoch, index: pos },
      };
    }
    this.lastReport = { epoch, batches, images, skipped, dropped };
    this.onEpochEnd(this.lastReport);
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await this.pool?.close();
  }
}
