import { Rng, hashInts, permutation } from './random';

/** How a dataset of `size` samples is split over ranks, as PyTorch's `DistributedSampler`. */
export interface ShardOptions {
  /** Number of samples in the dataset. */
  size: number;
  /** This process's rank, `0 ≤ rank < worldSize`. Default 0. */
  rank?: number;
  /** Number of processes. Default 1. */
  worldSize?: number;
  /** Shuffle each epoch with a permutation seeded by `seed + epoch`. Default true. */
  shuffle?: boolean;
  /** Base seed. Default 0. */
  seed?: number;
  /**
   * `DistributedSampler(drop_last=...)`: true drops the tail so every rank gets `floor(size / worldSize)`
   * samples; false (PyTorch's default) pads by repeating the permutation's head so every rank gets
   * `ceil(size / worldSize)`. Default false.
   */
  dropLast?: boolean;
}

function checked(o: ShardOptions): Required<ShardOptions> {
  const r = { rank: 0, worldSize: 1, shuffle: true, seed: 0, dropLast: false, ...o };
  if (!Number.isInteger(r.size) || r.size < 0) throw new Error(`dataset size must be a non-negative integer, got ${r.size}`);
  if (!Number.isInteger(r.worldSize) || r.worldSize < 1) throw new Error(`worldSize must be a positive integer, got ${r.worldSize}`);
  if (!Number.isInteger(r.rank) || r.rank < 0 || r.rank >= r.worldSize) {
    throw new Error(`rank must be an integer in [0, ${r.worldSize}), got ${r.rank}`);
  }
  if (!Number.isSafeInteger(r.seed)) throw new Error(`seed must be a safe integer, got ${r.seed}`);
  return r;
}

/** Samples per rank per epoch (`DistributedSampler.num_samples`). */
export function shardLength(options: ShardOptions): number {
  const { size, worldSize, dropLast } = checked(options);
  if (dropLast && size % worldSize !== 0) return Math.max(0, Math.ceil((size - worldSize) / worldSize));
  return Math.ceil(size / worldSize);
}

/**
 * The dataset indices this rank visits in `epoch`, in order — `DistributedSampler.__iter__` after
 * `set_epoch(epoch)`: a permutation of the dataset (seeded with `seed + epoch`; our own PRNG, so the order
 * differs from `torch.randperm`), padded by wrapping around or truncated to `shardLength · worldSize`, then
 * every `worldSize`-th element starting at `rank`.
 */
export function shardIndices(epoch: number, options: ShardOptions): Uint32Array {
  const o = checked(options);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new Error(`epoch must be a non-negative integer, got ${epoch}`);
  const n = shardLength(o);
  const out = new Uint32Array(n);
  if (n === 0) return out;
  let order: Uint32Array;
  if (o.shuffle) {
    order = permutation(o.size, new Rng(o.seed + epoch));
  } else {
    order = new Uint32Array(o.size);
    for (let i = 0; i < o.size; i++) order[i] = i;
  }
  for (let i = 0, j = o.rank; i < n; i++, j += o.worldSize) {
    out[i] = order[j % o.size];
  }
  return out;
}

/**
 * Whether sample `index` is mirrored in `epoch` (`RandomHorizontalFlip(p)`): a hash of
 * `(seed, epoch, index)`, so the decision does not depend on workers, batch order or resumption.
 */
export function flipDecision(seed: number, epoch: number, index: number, p = 0.5): boolean {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return hashInts(seed, epoch, index, 0x666c6970) / 0x100000000 < p;
}
