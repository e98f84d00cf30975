import { stat } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { ChannelStatsAccumulator, type ChannelStats, shardIndices } from '@svg/data-imagenet';
import { ImageLoader, LatentCache, openImageDataset } from '@svg/data-imagenet/node';
import type { SvgAutoencoder } from '@svg/autoencoder';
import type { LatentDecoder } from '@svg/generate';
import { type GreyImages, loadFashionMnist } from './fashion-mnist';
import { PatchProjection } from './patch-projection';

/** Position in a data stream: `index` samples of epoch `epoch` consumed (this rank's share). */
export interface DataPosition {
  epoch: number;
  index: number;
}

/** One batch of latent tokens (not yet feature-normalised). */
export interface TokenBatch {
  /** `[B, 256, C]` float32. */
  tokens: Float32Array;
  labels: Int32Array;
  count: number;
  epoch: number;
  /** Where to resume to continue right after this batch. */
  next: DataPosition;
}

/** Sharding and shuffling of a source, as PyTorch's `DistributedSampler(shuffle=True, seed)` + `drop_last` loader. */
export interface StreamOptions {
  batchSize: number;
  seed: number;
  rank?: number;
  worldSize?: number;
}

/** Where the DiT's latents come from. */
export interface LatentSource {
  /** Channels per token. */
  readonly channels: number;
  /** Number of classes of the data (labels are `0..classes-1`). */
  readonly classes: number;
  /** Samples per epoch for this rank. */
  samplesPerEpoch(options: StreamOptions): number;
  /** Shuffled, sharded, complete batches from `from` on, for ever (epoch after epoch). */
  batches(from: DataPosition, options: StreamOptions): AsyncGenerator<TokenBatch>;
  /** Per-channel statistics of (up to `limit`) latents, pooled over tokens. */
  stats(limit?: number): Promise<ChannelStats>;
  /** Latents NHWC `[B, 16, 16, C]` → images, for sample grids; absent when there is no decoder. */
  readonly decoder?: LatentDecoder;
  close(): Promise<void>;
}

/** Fashion-MNIST (28×28 grey, 10 classes) through the fixed random {@link PatchProjection} encoder: our CPU data set. */
export class FashionMnistSource implements LatentSource {
  readonly classes = 10;

  private constructor(
    readonly images: GreyImages,
    readonly projection: PatchProjection,
  ) {}

  static async open(dir: string | undefined, options: { limit?: number; channels?: number; seed?: number } = {}): Promise<FashionMnistSource> {
    const images = await loadFashionMnist(dir, 'train', options.limit);
    return new FashionMnistSource(images, new PatchProjection({ imageSize: 32, channels: options.channels, seed: options.seed }));
  }

  get channels(): number {
    return this.projection.channels;
  }

  samplesPerEpoch(options: StreamOptions): number {
    return shardIndices(0, this.shard(options)).length;
  }

  async *batches(from: DataPosition, options: StreamOptions): AsyncGenerator<TokenBatch> {
    const { batchSize } = options;
    const { height: h, width: w } = this.images;
    for (let epoch = from.epoch; ; epoch++) {
      const order = shardIndices(epoch, this.shard(options));
      if (order.length < batchSize) throw new Error(`Fashion-MNIST: ${order.length} images per epoch cannot fill a batch of ${batchSize}`);
      for (let start = epoch === from.epoch ? from.index : 0; start + batchSize <= order.length; start += batchSize) {
        const pixels = new Uint8Array(batchSize * h * w);
        const labels = new Int32Array(batchSize);
        for (let i = 0; i < batchSize; i++) {
          const k = order[start + i];
          pixels.set(this.images.pixels.subarray(k * h * w, (k + 1) * h * w), i * h * w);
          labels[i] = this.images.labels[k];
        }
        yield { tokens: this.projection.encode(pixels, batchSize, h, w), labels, count: batchSize, epoch, next: { epoch, index: start + batchSize } };
      }
    }
  }

  async stats(limit = this.images.count): Promise<ChannelStats> {
    const acc = new ChannelStatsAccumulator([256, this.channels], 1);
    const { height: h, width: w } = this.images;
    const n = Math.min(limit, this.images.count);
    for (let s = 0; s < n; s += 256) {
      const count = Math.min(256, n - s);
      acc.add(this.projection.encode(this.images.pixels.subarray(s * h * w, (s + count) * h * w), count, h, w), count);
    }
    return acc.result();
  }

  get decoder(): LatentDecoder {
    return this.projection;
  }

  async close(): Promise<void> {}

  private shard(options: StreamOptions) {
    return { size: this.images.count, rank: options.rank ?? 0, worldSize: options.worldSize ?? 1, shuffle: true, seed: options.seed, dropLast: false };
  }
}

/**
 * Latents precomputed by `writeLatentCache` (`@svg/data-imagenet/node`). Per-latent shapes `[C, 16, 16]` (PyTorch
 * layout; also `[16, 16, 16]`), `[16, 16, C]` and `[256, C]` are accepted. Mirrored latents are used with probability
 * 0.5 when the cache has them (upstream's `RandomHorizontalFlip`).
 */
export class LatentCacheSource implements LatentSource {
  readonly channels: number;
  private readonly layout: 'chw' | 'hwc' | 'tokens';

  private constructor(
    readonly cache: LatentCache,
    readonly decoder?: SvgAutoencoder,
  ) {
    const s = cache.latentShape;
    if (s.length === 3 && s[1] === 16 && s[2] === 16) [this.layout, this.channels] = ['chw', s[0]];
    else if (s.length === 3 && s[0] === 16 && s[1] === 16) [this.layout, this.channels] = ['hwc', s[2]];
    else if (s.length === 2 && s[0] === 256) [this.layout, this.channels] = ['tokens', s[1]];
    else throw new Error(`latent cache ${cache.dir}: latent shape [${s.join(', ')}] is not a 16×16 grid ([C, 16, 16], [16, 16, C] or [256, C])`);
  }

  static async open(dir: string, decoder?: SvgAutoencoder): Promise<LatentCacheSource> {
    return new LatentCacheSource(await LatentCache.open(dir), decoder);
  }

  get classes(): number {
    return this.cache.index.classes.length;
  }

  samplesPerEpoch(options: StreamOptions): number {
    return this.cache.samplesPerEpoch({ seed: options.seed, rank: options.rank, worldSize: options.worldSize });
  }

  async *batches(from: DataPosition, options: StreamOptions): AsyncGenerator<TokenBatch> {
    for await (const b of this.cache.batches({ batchSize: options.batchSize, seed: options.seed, rank: options.rank, worldSize: options.worldSize, from, dropLast: true })) {
      const count = b.labels.length;
      yield { tokens: this.toTokens(b.latents, count), labels: b.labels, count, epoch: b.epoch, next: b.next };
    }
  }

  async stats(): Promise<ChannelStats> {
    return this.cache.stats({ channelAxis: this.layout === 'chw' ? 0 : this.layout === 'hwc' ? 2 : 1 });
  }

  async close(): Promise<void> {
    await this.cache.close();
  }

  private toTokens(latents: Float32Array, count: number): Float32Array {
    if (this.layout !== 'chw') return latents;
    const c = this.channels;
    const out = new Float32Array(latents.length);
    for (let n = 0; n < count; n++) {
      const base = n * 256 * c;
      for (let ch = 0; ch < c; ch++) for (let t = 0; t < 256; t++) out[base + t * c + ch] = latents[base + ch * 256 + t];
    }
    return out;
  }
}

/**
 * Upstream's data path (spec §5.3): an `ImageFolder` of images, ADM centre crop to 256, random horizontal flip,
 * ImageNet normalisation, then the frozen SVG autoencoder's `encode` (eval mode, batch-dependent matching as upstream)
 * → tokens `[B, 256, 392]`.
 */
export class ImageFolderSource implements LatentSource {
  private constructor(
    readonly root: string,
    readonly autoencoder: SvgAutoencoder,
    readonly classes: number,
    private readonly size: number,
    private readonly imageSize: number,
    private readonly workers: number,
    private readonly dataset: Awaited<ReturnType<typeof openImageDataset>>,
  ) {}

  static async open(root: string, autoencoder: SvgAutoencoder, options: { imageSize?: number; workers?: number; limit?: number } = {}): Promise<ImageFolderSource> {
    let dataset = await openImageDataset(root);
    if (options.limit) dataset = { ...dataset, samples: dataset.samples.slice(0, options.limit) };
    return new ImageFolderSource(root, autoencoder, dataset.classes.length, dataset.samples.length, options.imageSize ?? 256, options.workers ?? 2, dataset);
  }

  get channels(): number {
    return this.autoencoder.latentChannels;
  }

  samplesPerEpoch(options: StreamOptions): number {
    return shardIndices(0, { size: this.size, rank: options.rank ?? 0, worldSize: options.worldSize ?? 1, shuffle: true, seed: options.seed }).length;
  }

  async *batches(from: DataPosition, options: StreamOptions): AsyncGenerator<TokenBatch> {
    const loader = new ImageLoader({
      dataset: this.dataset,
      batchSize: options.batchSize,
      imageSize: this.imageSize,
      format: 'imagenet',
      layout: 'nhwc',
      flipProbability: 0.5,
      seed: options.seed,
      rank: options.rank,
      worldSize: options.worldSize,
      workers: this.workers,
    });
    try {
      for await (const b of loader.batches({ from })) {
        const count = b.labels.length;
        const tokens = tf.tidy(() => {
          const xIn = tf.tensor4d(b.images as Float32Array, [count, this.imageSize, this.imageSize, 3]);
          const enc = this.autoencoder.encodeDetailed(xIn);
          tf.dispose([enc.patchTokens, enc.hVit, enc.hVitMatched].filter((t): t is tf.Tensor3D => t !== null));
          return tf.reshape(enc.latent, [count, -1, this.channels]);
        });
        const data = (await tokens.data()) as Float32Array;
        tokens.dispose();
        yield { tokens: data, labels: b.labels, count, epoch: b.epoch, next: b.next };
      }
    } finally {
      await loader.close();
    }
  }

  async stats(limit = 1024): Promise<ChannelStats> {
    const acc = new ChannelStatsAccumulator([256, this.channels], 1);
    let seen = 0;
    for await (const b of this.batches({ epoch: 0, index: 0 }, { batchSize: 32, seed: 0 })) {
      acc.add(b.tokens, b.count);
      seen += b.count;
      if (seen >= Math.min(limit, this.size)) break;
    }
    return acc.result();
  }

  get decoder(): LatentDecoder {
    return this.autoencoder;
  }

  async close(): Promise<void> {}
}

/** One batch of images for the autoencoder: NHWC RGB in [-1, 1]. */
export interface ImageBatch {
  images: Float32Array;
  count: number;
  /** Side of the square images. */
  size: number;
  /** Class labels, when the source has them. */
  labels?: Int32Array;
  epoch: number;
  next: DataPosition;
}

/** Where the autoencoder's training images come from. */
export interface ImageSource {
  readonly size: number;
  samplesPerEpoch(options: StreamOptions): number;
  batches(from: DataPosition, options: StreamOptions): AsyncGenerator<ImageBatch>;
  /** The first `count` images in dataset order (fixed inputs of the reconstruction grids). */
  fixedBatch(count: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Fashion-MNIST as RGB images in [-1, 1], centred on a black `size × size` canvas (28×28 → 32×32 by default). */
export class FashionMnistImages implements ImageSource {
  private constructor(
    readonly data: GreyImages,
    readonly size: number,
  ) {
    if (size < data.height || size < data.width) throw new Error(`Fashion-MNIST images are ${data.height}×${data.width}; image_size ${size} is smaller`);
  }

  static async open(dir: string | undefined, options: { limit?: number; size?: number } = {}): Promise<FashionMnistImages> {
    return new FashionMnistImages(await loadFashionMnist(dir, 'train', options.limit), options.size ?? 32);
  }

  /** The same rendering over images already in memory (e.g. the test split). */
  static fromImages(data: GreyImages, size = 32): FashionMnistImages {
    return new FashionMnistImages(data, size);
  }

  samplesPerEpoch(options: StreamOptions): number {
    return shardIndices(0, this.shard(options)).length;
  }

  async *batches(from: DataPosition, options: StreamOptions): AsyncGenerator<ImageBatch> {
    const { batchSize } = options;
    for (let epoch = from.epoch; ; epoch++) {
      const order = shardIndices(epoch, this.shard(options));
      if (order.length < batchSize) throw new Error(`Fashion-MNIST: ${order.length} images per epoch cannot fill a batch of ${batchSize}`);
      for (let start = epoch === from.epoch ? from.index : 0; start + batchSize <= order.length; start += batchSize) {
        const indices = order.subarray(start, start + batchSize);
        const labels = Int32Array.from(indices, (k) => this.data.labels[k]);
        yield { images: this.render(indices), labels, count: batchSize, size: this.size, epoch, next: { epoch, index: start + batchSize } };
      }
    }
  }

  async fixedBatch(count: number): Promise<Float32Array> {
    return this.render(Uint32Array.from({ length: Math.min(count, this.data.count) }, (_, i) => i));
  }

  async close(): Promise<void> {}

  /** Images `indices` as NHWC RGB in [-1, 1], each centred on the black canvas. */
  render(indices: Uint32Array): Float32Array {
    const { height: h, width: w, pixels } = this.data;
    const s = this.size;
    const top = Math.floor((s - h) / 2);
    const left = Math.floor((s - w) / 2);
    const out = new Float32Array(indices.length * s * s * 3).fill(-1);
    indices.forEach((k, n) => {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = pixels[(k * h + y) * w + x] / 127.5 - 1;
          const o = ((n * s + top + y) * s + left + x) * 3;
          out[o] = v;
          out[o + 1] = v;
          out[o + 2] = v;
        }
      }
    });
    return out;
  }

  private shard(options: StreamOptions) {
    return { size: this.data.count, rank: options.rank ?? 0, worldSize: options.worldSize ?? 1, shuffle: true, seed: options.seed, dropLast: false };
  }
}

/**
 * A folder of images (upstream `ImageNetTrain`: `<data_root>/data/train` when it exists, else `<data_root>` as an
 * `ImageFolder`), ADM centre-cropped to `size`, in [-1, 1], no flips (upstream uses no flip for the autoencoder).
 * Upstream crops at a random position after resizing the short side; we use the deterministic ADM crop.
 */
export class FolderImages implements ImageSource {
  private constructor(
    private readonly dataset: Awaited<ReturnType<typeof openImageDataset>>,
    readonly size: number,
    private readonly workers: number,
  ) {}

  static async open(root: string, options: { size?: number; workers?: number; limit?: number } = {}): Promise<FolderImages> {
    const nested = `${root.replace(/\/$/, '')}/data/train`;
    const dir = await stat(nested).then(
      (s) => (s.isDirectory() ? nested : root),
      () => root,
    );
    let dataset = await openImageDataset(dir);
    if (options.limit) dataset = { ...dataset, samples: dataset.samples.slice(0, options.limit) };
    return new FolderImages(dataset, options.size ?? 256, options.workers ?? 2);
  }

  samplesPerEpoch(options: StreamOptions): number {
    return shardIndices(0, { size: this.dataset.samples.length, rank: options.rank ?? 0, worldSize: options.worldSize ?? 1, seed: options.seed }).length;
  }

  async *batches(from: DataPosition, options: StreamOptions): AsyncGenerator<ImageBatch> {
    const loader = this.loader(options.batchSize, options);
    try {
      for await (const b of loader.batches({ from })) {
        yield { images: b.images as Float32Array, count: b.labels.length, size: this.size, epoch: b.epoch, next: b.next };
      }
    } finally {
      await loader.close();
    }
  }

  async fixedBatch(count: number): Promise<Float32Array> {
    const n = Math.min(count, this.dataset.samples.length);
    const loader = new ImageLoader({ dataset: this.dataset, batchSize: n, imageSize: this.size, format: 'signed', layout: 'nhwc', flipProbability: 0, shuffle: false, workers: 0, dropLast: false });
    try {
      for await (const b of loader.batches({ epochs: 1 })) return b.images as Float32Array;
      throw new Error('no images');
    } finally {
      await loader.close();
    }
  }

  async close(): Promise<void> {}

  private loader(batchSize: number, options: StreamOptions): ImageLoader {
    return new ImageLoader({
      dataset: this.dataset,
      batchSize,
      imageSize: this.size,
      format: 'signed',
      layout: 'nhwc',
      flipProbability: 0,
      seed: options.seed,
      rank: options.rank,
      worldSize: options.worldSize,
      workers: this.workers,
    });
  }
}
