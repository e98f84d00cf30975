import * as tf from '@tensorflow/tfjs-core';
import { type MpiAddon, loadMpiAddon } from './addon';
import { type LaunchEnvironment, launchEnvironment } from './environment';

/** Options of {@link initDistributed}. */
export interface DistributedOptions {
  /**
   * Seconds a collective may wait for the other ranks before it fails with a {@link DistributedError} (a peer that
   * stopped or hangs would otherwise block the job for ever). Default: `SVG_DIST_TIMEOUT` or 300.
   */
  timeoutSeconds?: number;
  /** Size of the all-reduce buckets. Default 4 MiB. */
  bucketBytes?: number;
  /** Environment to read the launcher's variables from. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** Communication failed: MPI is missing where a launcher asked for it, a peer stopped, or a collective timed out. */
export class DistributedError extends Error {
  override name = 'DistributedError';
}

/** What the collectives of a {@link Distributed} moved so far (this rank's view). */
export interface CommunicationStats {
  allReduceCalls: number;
  /** Bytes this rank contributed to all-reduces. */
  allReduceBytes: number;
  /** Wall time spent waiting for all-reduces (including waiting for slower ranks). */
  allReduceSeconds: number;
  broadcastBytes: number;
}

const DEFAULT_TIMEOUT_S = 300;
const DEFAULT_BUCKET_BYTES = 4 << 20;
/** MPI counts are C ints: larger broadcasts go in pieces. */
const BROADCAST_CHUNK = 1 << 30;

/**
 * This process's place in a data-parallel job and the collectives between its processes. Made by
 * {@link initDistributed}: over MPI when a launcher started several processes, otherwise a single process whose
 * collectives cost nothing. Collectives must be called in the same order on every rank; each fails with a
 * {@link DistributedError} after `timeoutSeconds`.
 */
export class Distributed {
  readonly stats: CommunicationStats = { allReduceCalls: 0, allReduceBytes: 0, allReduceSeconds: 0, broadcastBytes: 0 };
  private queue: Promise<unknown> = Promise.resolve();
  private failed: DistributedError | null = null;

  /** @internal use {@link initDistributed} */
  constructor(
    /** Rank in the job, `0 ≤ rank < worldSize`; rank 0 writes the files. */
    readonly rank: number,
    readonly worldSize: number,
    /** Rank among the processes on this host (picks the host's GPU). */
    readonly localRank: number,
    /** Processes on this host. */
    readonly localSize: number,
    /** The launcher's variables, null in a plain process. */
    readonly launch: LaunchEnvironment | null,
    /** The MPI library's version line, null without MPI. */
    readonly library: string | null,
    readonly timeoutSeconds: number,
    readonly bucketBytes: number,
    private readonly mpi: MpiAddon | null,
  ) {}

  /** True on rank 0, the rank that logs and writes files. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /** `rank 1/4` — for messages. */
  get label(): string {
    return `rank ${this.rank}/${this.worldSize}`;
  }

  /**
   * The element-wise mean of each float32 tensor over all ranks (data-parallel gradients). Takes ownership of the
   * inputs (disposed) and returns new tensors in the same order and shapes; in one process the inputs come back as
   * they are. The tensors are copied into host buckets of `bucketBytes`, each bucket is summed in place over the
   * ranks while the next one is being copied, and the sums are scaled by `1 / worldSize`.
   */
  async allReduceMean<T extends tf.Tensor>(tensors: T[]): Promise<T[]> {
    if (this.worldSize === 1) return tensors;
    for (const t of tensors) if (t.dtype !== 'float32') throw new DistributedError(`allReduceMean: tensors must be float32, got ${t.dtype} [${t.shape.join(', ')}]`);
    const total = tensors.reduce((n, t) => n + t.size, 0);
    const flat = new Float32Array(total);
    const bucket = Math.max(1, Math.floor(this.bucketBytes / 4));
    const started = performance.now();
    let reduced: Promise<void> = Promise.resolve();
    const reduce = (view: Float32Array) => {
      reduced = reduced.then(() => this.allReduceSum(view, 'gradient all-reduce', false));
      reduced.catch(() => {}); // awaited below; until then a failure must not count as unhandled
    };
    let filled = 0;
    let sent = 0;
    for (const t of tensors) {
      flat.set((await t.data()) as Float32Array, filled);
      filled += t.size;
      t.dispose();
      for (; filled - sent >= bucket; sent += bucket) reduce(flat.subarray(sent, sent + bucket));
    }
    if (sent < total) reduce(flat.subarray(sent));
    await reduced;
    const scale = 1 / this.worldSize;
    for (let i = 0; i < total; i++) flat[i] *= scale;
    this.stats.allReduceCalls++;
    this.stats.allReduceBytes += total * 4;
    this.stats.allReduceSeconds += (performance.now() - started) / 1000;
    let offset = 0;
    return tensors.map((t) => {
      const out = tf.tensor(flat.subarray(offset, offset + t.size), t.shape, 'float32') as T;
      offset += t.size;
      return out;
    });
  }

  /** Sums `values` over all ranks, in place (host data: losses, counters, flags). */
  async allReduceSum(values: Float32Array | Float64Array, what = 'all-reduce', count = true): Promise<void> {
    if (this.worldSize === 1) return;
    const started = performance.now();
    await this.collective(what, (mpi) => mpi.allReduceSum(values));
    if (count) {
      this.stats.allReduceCalls++;
      this.stats.allReduceBytes += values.byteLength;
      this.stats.allReduceSeconds += (performance.now() - started) / 1000;
    }
  }

  /** True on every rank when `flag` is true on any rank (e.g. "stop after this step"). */
  async anyTrue(flag: boolean): Promise<boolean> {
    const v = new Float64Array([flag ? 1 : 0]);
    await this.allReduceSum(v, 'stop-flag all-reduce');
    return v[0] > 0;
  }

  /**
   * Rank `root`'s bytes on every rank: the root passes its bytes, the others anything (ignored, e.g. null); the
   * length travels first, so only the root needs to know it.
   */
  async broadcastBytes(bytes: Uint8Array | null, root = 0): Promise<Uint8Array> {
    this.checkRoot(root);
    if (this.rank === root && !bytes) throw new DistributedError(`broadcastBytes: the root (rank ${root}) must pass the bytes`);
    if (this.worldSize === 1) return bytes!;
    const header = new Uint8Array(8);
    if (this.rank === root) new DataView(header.buffer).setFloat64(0, bytes!.length, true);
    await this.collective('broadcast', (mpi) => mpi.broadcast(header, root));
    const length = new DataView(header.buffer).getFloat64(0, true);
    const out = this.rank === root ? bytes! : new Uint8Array(length);
    for (let at = 0; at < length; at += BROADCAST_CHUNK) {
      const chunk = out.subarray(at, Math.min(length, at + BROADCAST_CHUNK));
      await this.collective('broadcast', (mpi) => mpi.broadcast(chunk, root));
    }
    this.stats.broadcastBytes += length;
    return out;
  }

  /** Rank `root`'s JSON-serialisable value on every rank. */
  async broadcastJson<T>(value: T, root = 0): Promise<T> {
    const bytes = this.rank === root ? new TextEncoder().encode(JSON.stringify(value) ?? 'null') : null;
    return JSON.parse(new TextDecoder().decode(await this.broadcastBytes(bytes, root))) as T;
  }

  /** Waits until every rank has called it. */
  async barrier(): Promise<void> {
    if (this.worldSize === 1) return;
    await this.collective('barrier', (mpi) => mpi.barrier());
  }

  /**
   * Ends every process of the job with exit code `code` (MPI_Abort): for a failure on one rank, whose peers would
   * otherwise wait in their next collective. In one process it exits this process.
   */
  abort(code = 1): never {
    if (this.mpi) this.mpi.abort(code);
    process.exit(code);
  }

  /** Shuts MPI down (call once, at the end, on every rank). */
  finalize(): void {
    if (this.mpi && !this.failed) this.mpi.finalize();
  }

  private checkRoot(root: number): void {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) throw new DistributedError(`root rank ${root} is outside [0, ${this.worldSize})`);
  }

  /** Runs one MPI collective after the previous one (MPI_THREAD_SERIALIZED), failing after the timeout. */
  private collective(what: string, op: (mpi: MpiAddon) => Promise<void>): Promise<void> {
    const run = async () => {
      if (this.failed) throw this.failed;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          this.failed = new DistributedError(
            `${this.label}: ${what} waited ${this.timeoutSeconds} s for the other ranks (one of them stopped, failed or hangs); ` +
              'raise SVG_DIST_TIMEOUT if a rank legitimately needs longer between collectives',
          );
          reject(this.failed);
        }, this.timeoutSeconds * 1000);
        timer.unref();
      });
      try {
        await Promise.race([op(this.mpi!).catch((e: Error) => Promise.reject(new DistributedError(`${this.label}: ${e.message}`))), timeout]);
      } finally {
        clearTimeout(timer);
      }
    };
    const result = this.queue.then(run);
    this.queue = result.catch(() => {});
    return result;
  }
}

/**
 * Joins the job this process was launched in (once per process; MPI is shut down when the process exits): over MPI when a launcher (`mpirun`, `mpiexec`, `srun`) started
 * several processes — rank, world size and local rank come from MPI itself —, otherwise a single process
 * (rank 0 of 1) that needs no MPI at all. Fails with a clear {@link DistributedError} when a launcher says there are
 * several processes but MPI cannot load, or when MPI disagrees with the launcher (torchrun's `WORLD_SIZE` without an
 * MPI launcher: torchrun starts processes but no MPI job).
 *
 * @example
 * const dist = await initDistributed();
 * const grads = await dist.allReduceMean(localGrads); // the mean over all ranks
 * if (dist.isMain) await saveCheckpoint();
 */
export async function initDistributed(options: DistributedOptions = {}): Promise<Distributed> {
  // MPI can be initialised once per process: every later call joins the same job.
  if (joined) return joined;
  const dist = await join(options);
  if (dist.worldSize > 1) {
    joined = dist;
    process.once('exit', () => dist.finalize());
  }
  return dist;
}

let joined: Distributed | null = null;

async function join(options: DistributedOptions): Promise<Distributed> {
  const env = options.env ?? process.env;
  const timeoutSeconds = options.timeoutSeconds ?? (env.SVG_DIST_TIMEOUT ? Number(env.SVG_DIST_TIMEOUT) : DEFAULT_TIMEOUT_S);
  if (!(timeoutSeconds > 0)) throw new DistributedError(`the collective timeout must be a positive number of seconds, got ${env.SVG_DIST_TIMEOUT ?? options.timeoutSeconds}`);
  const bucketBytes = options.bucketBytes ?? DEFAULT_BUCKET_BYTES;
  if (!(bucketBytes >= 4)) throw new DistributedError(`bucketBytes must be at least 4, got ${bucketBytes}`);
  let launch: LaunchEnvironment | null;
  try {
    launch = launchEnvironment(env);
  } catch (e) {
    throw new DistributedError(`the launcher's environment is not valid: ${(e as Error).message}`);
  }
  if (!launch || launch.worldSize === 1) return new Distributed(0, 1, 0, 1, launch, null, timeoutSeconds, bucketBytes, null);
  let mpi: MpiAddon;
  try {
    mpi = loadMpiAddon();
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0];
    throw new DistributedError(
      `${launch.source} asks for ${launch.worldSize} processes, but MPI cannot be loaded (${reason}); ` +
        'install Open MPI (apt-get install openmpi-bin libopenmpi-dev) and rebuild the addon (npm rebuild @svg/distributed)',
    );
  }
  const info = mpi.init();
  if (info.size !== launch.worldSize) {
    const hint =
      launch.launcher === 'torchrun'
        ? `torchrun starts processes but no MPI job: launch with mpirun -np ${launch.worldSize} or srun --mpi=pmix -n ${launch.worldSize}`
        : 'is this process running under a different launcher than its environment says?';
    throw new DistributedError(`${launch.source} (${launch.launcher}) but MPI sees ${info.size} process${info.size === 1 ? '' : 'es'}: ${hint}`);
  }
  if (launch.rank !== null && launch.rank !== info.rank) {
    throw new DistributedError(`${launch.launcher} says this is rank ${launch.rank} but MPI says ${info.rank}`);
  }
  return new Distributed(info.rank, info.size, info.localRank, info.localSize, launch, info.library, timeoutSeconds, bucketBytes, mpi);
}
