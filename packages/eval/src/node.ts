/**
 * `@svg/eval/node`: activations of ADM-style `.npz` image batches, streamed from disk and cached beside them.
 */
import { stat } from 'node:fs/promises';
import { type RawTensor, WeightsFormatError, toFloat32 } from '@svg/weights';
import { npzFileInfo, openNpzArray, readNpzFile, readSafetensorsFile, writeSafetensorsFile } from '@svg/weights/node';
import { type Activations, type FeatureExtractor, type ImageBatch, type ReferenceStats, computeActivations } from './evaluate';
import type { GaussianStats } from './frechet';

/** Options of {@link npzActivations}. */
export interface NpzActivationsOptions {
  /** Images per extractor call (default 64). */
  batchSize?: number;
  /**
   * Reuse and write `<npz>.<extractor id>.activations.safetensors` (default true). The cache is used only when
   * the npz has the size and modification time it was made from.
   */
  cache?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** What {@link npzActivations} returns. */
export interface NpzActivations {
  activations: Activations;
  /** `mu`/`sigma` (and `mu_s`/`sigma_s`) stored in the npz, as ADM's reference batches carry them. */
  storedStats: ReferenceStats;
  /** Whether the activations came from the cache. */
  cached: boolean;
  /** Image size `[height, width]` of `arr_0`. */
  imageSize: [number, number];
  /** Why the activations could not be cached (e.g. a read-only folder); they are returned all the same. */
  cacheError?: string;
}

/** The cache file of an npz's activations for an extractor. */
export function activationsCachePath(npzPath: string, extractor: FeatureExtractor): string {
  return `${npzPath}.${extractor.id.replace(/[^\w.-]+/g, '_')}.activations.safetensors`;
}

/**
 * Activations of the images `arr_0` (uint8 `[N, H, W, 3]`) of an ADM sample or reference batch, read in batches
 * so that no more than one batch of images is in memory, plus the statistics the file stores.
 * Throws a one-line error naming the file for npz files without images or with malformed statistics.
 */
export async function npzActivations(path: string, extractor: FeatureExtractor, options: NpzActivationsOptions = {}): Promise<NpzActivations> {
  const members = await npzFileInfo(path);
  const names = members.map((m) => m.name);
  const images = members.find((m) => m.name === 'arr_0');
  if (!images) throw new WeightsFormatError(path, `no image array arr_0 (arrays: ${names.join(', ') || 'none'}); an ADM batch holds uint8 images [N, H, W, 3] as arr_0`);
  if (images.dtype !== 'U8' || images.shape.length !== 4 || images.shape[3] !== 3) {
    throw new WeightsFormatError(path, `arr_0 must be uint8 images [N, H, W, 3], got ${images.descr} [${images.shape.join(', ')}]`);
  }
  const [count, height, width] = images.shape;
  const storedStats = await readStoredStats(path, names);
  const source = await stat(path);
  const fingerprint = { source_bytes: String(source.size), source_mtime_ms: String(Math.round(source.mtimeMs)), extractor: extractor.id };
  const cachePath = activationsCachePath(path, extractor);
  if (options.cache !== false) {
    const hit = await readCache(cachePath, fingerprint, extractor);
    if (hit) return { activations: hit, storedStats, cached: true, imageSize: [height, width] };
  }
  const batchSize = options.batchSize ?? 64;
  const reader = await openNpzArray(path, 'arr_0');
  let activations: Activations;
  try {
    activations = await computeActivations(extractor, imageBatches(reader.batches(batchSize), height, width), count, (done) => options.onProgress?.(done, count));
  } finally {
    await reader.close();
  }
  let cacheError: string | undefined;
  if (options.cache !== false) {
    // The cache only saves time: a read-only folder (or a full disk) must not cost the activations just computed.
    await writeCache(cachePath, fingerprint, activations).catch((e: Error) => (cacheError = e.message));
  }
  return { activations, storedStats, cached: false, imageSize: [height, width], cacheError };
}

async function* imageBatches(batches: AsyncIterable<RawTensor>, height: number, width: number): AsyncGenerator<ImageBatch> {
  for await (const b of batches) yield { pixels: b.data as Uint8Array, count: b.shape[0], height, width };
}

async function readStoredStats(path: string, names: string[]): Promise<ReferenceStats> {
  const wanted = ['mu', 'sigma', 'mu_s', 'sigma_s'].filter((n) => names.includes(n));
  if (wanted.length === 0) return {};
  const arrays = await readNpzFile(path, { names: wanted });
  const pair = (mu: string, sigma: string): GaussianStats | undefined => {
    const m = arrays.get(mu);
    const s = arrays.get(sigma);
    if (!m && !s) return undefined;
    if (!m || !s) throw new WeightsFormatError(path, `has ${m ? mu : sigma} but not ${m ? sigma : mu}`);
    const d = m.shape[0];
    if (m.shape.length !== 1 || s.shape.length !== 2 || s.shape[0] !== d || s.shape[1] !== d) {
      throw new WeightsFormatError(path, `${mu} [${m.shape.join(', ')}] and ${sigma} [${s.shape.join(', ')}] are not a mean and its covariance`);
    }
    return { dim: d, count: 0, mean: Float64Array.from(toFloat64(m)), cov: Float64Array.from(toFloat64(s)) };
  };
  return { pool: pair('mu', 'sigma'), spatial: pair('mu_s', 'sigma_s') };
}

function toFloat64(t: RawTensor): ArrayLike<number> {
  return t.dtype === 'F64' ? (t.data as Float64Array) : toFloat32(t);
}

async function readCache(path: string, fingerprint: Record<string, string>, extractor: FeatureExtractor): Promise<Activations | null> {
  let file;
  try {
    file = await readSafetensorsFile(path);
  } catch {
    return null; // no cache, or a damaged one: recompute
  }
  const meta = file.metadata ?? {};
  if (Object.entries(fingerprint).some(([k, v]) => meta[k] !== v)) return null;
  const pool = file.tensors.get('pool');
  const logits = file.tensors.get('logits');
  if (!pool || pool.shape[1] !== extractor.poolDims) return null;
  const count = pool.shape[0];
  const mean = file.tensors.get('spatial_mean');
  const cov = file.tensors.get('spatial_cov');
  return {
    count,
    poolDims: extractor.poolDims,
    pool: toFloat32(pool),
    spatialStats: mean && cov ? { dim: mean.shape[0], count, mean: mean.data as Float64Array, cov: cov.data as Float64Array } : null,
    logitClasses: logits ? logits.shape[1] : 0,
    logits: logits ? toFloat32(logits) : new Float32Array(0),
  };
}

async function writeCache(path: string, fingerprint: Record<string, string>, a: Activations): Promise<void> {
  const tensors = new Map<string, RawTensor>([['pool', { dtype: 'F32', shape: [a.count, a.poolDims], data: a.pool }]]);
  if (a.logitClasses > 0) tensors.set('logits', { dtype: 'F32', shape: [a.count, a.logitClasses], data: a.logits });
  if (a.spatialStats) {
    tensors.set('spatial_mean', { dtype: 'F64', shape: [a.spatialStats.dim], data: a.spatialStats.mean });
    tensors.set('spatial_cov', { dtype: 'F64', shape: [a.spatialStats.dim, a.spatialStats.dim], data: a.spatialStats.cov });
  }
  await writeSafetensorsFile(path, tensors, fingerprint);
}
