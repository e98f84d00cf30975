/**
 * Model loading for the sampler: weights come from a local file or a URL, are kept in Cache Storage so a reload
 * reads them from disk instead of the network, and are loaded into the models one tensor at a time (a byte range of
 * the file → a tfjs tensor), so the whole file is never held in memory beside the model's own copy.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type SvgAutoencoder, type SvgAutoencoderConfig, SVG_AUTOENCODER_CONFIG, createSvgAutoencoder, parseSvgAutoencoderConfig } from '@svg/autoencoder';
import { type DiT, DiT as DiTModel, inferDiTConfig } from '@svg/dit';
import { type LatentStats, loadLatentStats, latentStatsFromSafetensors } from '@svg/flow';
import { type Module, StateDictMismatchError, loadStateDict } from '@svg/nn';
import { type DType, type RawTensor, type SafetensorsEntry, type SafetensorsHeader, parseSafetensorsHeader } from '@svg/weights';
import { MODEL_MANIFEST, type ModelManifest, parseModelManifest } from '@svg/generate';

/** Everything generation needs. */
export interface LoadedModels {
  dit: DiT;
  autoencoder: SvgAutoencoder;
  stats: LatentStats | null;
  /** The model's class names (from an `svg-model.json` beside the DiT), or null for ImageNet's. */
  classNames: readonly string[] | null;
  /** File names, stored in the PNGs. */
  labels: { dit: string; autoencoder: string };
  /** Short descriptions for the page, e.g. "DiT 28 blocks × 1152". */
  summary: string[];
}

/** Where one weights file comes from: a picked file, or the text of the URL field (a URL or `cache:<name>`). */
export interface WeightsInput {
  file?: File | null;
  text: string;
}

/** Progress of one file: bytes done of total (total 0 when unknown) and what is happening. */
export type ProgressFn = (done: number, total: number, phase: 'download' | 'load') => void;

const CACHE_NAME = 'svg-sampler-weights-v1';
/** Prefix of the URL field for a file picked earlier and kept in the cache. */
export const CACHED_FILE_PREFIX = 'cache:';

/** A user-facing loading error (wrong file, bad shapes, missing input): the message is shown as is. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

// ---------------------------------------------------------------------------------------------------------------
// Opening files: local pick, cache, or network (then cache)

/** Cache key of a picked local file: a same-origin URL that is never requested from the server. */
function localKey(slot: string, name: string): string {
  return new URL(`__svg_sampler_local__/${slot}/${encodeURIComponent(name)}`, location.href).href;
}

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches === 'undefined' ? null : await caches.open(CACHE_NAME);
  } catch {
    return null; // e.g. an insecure context: weights are then simply not cached
  }
}

/** The opened file and the URL-field text that reopens it later (or null when it cannot be reopened). */
export interface OpenedFile {
  blob: Blob;
  label: string;
  reopen: string | null;
}

/**
 * Opens a weights file: a picked file (copied into the cache for the next visit), `cache:<name>` (a file picked
 * before), or a URL (from the cache when present, else downloaded with progress and stored). Returns a Blob: large
 * cached or picked files stay on disk, and tensors are read from it by range.
 */
export async function openWeights(slot: string, input: WeightsInput, onProgress: ProgressFn): Promise<OpenedFile | null> {
  const cache = await openCache();
  const text = input.text.trim();
  if (input.file) {
    const file = input.file;
    let reopen: string | null = null;
    if (cache) {
      try {
        await cache.put(localKey(slot, file.name), new Response(file, { headers: { 'content-length': String(file.size) } }));
        reopen = CACHED_FILE_PREFIX + file.name;
      } catch (e) {
        console.warn(`could not cache ${file.name}:`, e);
      }
    }
    return { blob: file, label: file.name, reopen };
  }
  if (!text) return null;
  if (text.startsWith(CACHED_FILE_PREFIX)) {
    const name = text.slice(CACHED_FILE_PREFIX.length);
    const hit = await cache?.match(localKey(slot, name));
    if (!hit) throw new ModelLoadError(`${name} is no longer in the browser's cache: pick the file again`);
    return { blob: await hit.blob(), label: name, reopen: text };
  }
  let url: URL;
  try {
    url = new URL(text, location.href);
  } catch {
    throw new ModelLoadError(`"${text}" is not a URL`);
  }
  const label = decodeURIComponent(url.pathname.split('/').pop() || url.href);
  const hit = await cache?.match(url.href);
  if (hit) return { blob: await hit.blob(), label, reopen: text };
  const blob = await download(url.href, cache, onProgress);
  return { blob, label, reopen: text };
}

async function download(url: string, cache: Cache | null, onProgress: ProgressFn): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new ModelLoadError(`cannot fetch ${url}: ${(e as Error).message} (offline, or the server does not allow cross-origin requests?)`);
  }
  if (!response.ok || !response.body) throw new ModelLoadError(`cannot fetch ${url}: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get('content-length') ?? 0);
  let done = 0;
  const counted = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        done += chunk.byteLength;
        onProgress(done, total, 'download');
        controller.enqueue(chunk);
      },
    }),
  );
  if (cache) {
    // Streamed straight into the cache (on disk), then read back as a disk-backed Blob.
    try {
      await cache.put(url, new Response(counted, { headers: { 'content-length': String(total), 'content-type': 'application/octet-stream' } }));
      const stored = await cache.match(url);
      if (stored) return stored.blob();
    } catch (e) {
      console.warn(`could not cache ${url}, keeping it in memory:`, e);
      return download(url, null, onProgress);
    }
  }
  return new Response(counted).blob();
}

/**
 * The `svg-model.json` in the folder of a weights URL (a model folder such as the demo's), or null when there is
 * none (a 404, a picked file, or no folder). A manifest that is there but broken is an error.
 */
export async function findManifest(weightsUrl: string): Promise<ModelManifest | null> {
  let url: URL;
  try {
    url = new URL(MODEL_MANIFEST, new URL(weightsUrl, location.href));
  } catch {
    return null;
  }
  if (!/^https?:$/.test(url.protocol)) return null;
  let response: Response;
  try {
    response = await fetch(url.href);
  } catch {
    return null;
  }
  if (!response.ok) return null;
  try {
    return parseModelManifest(await response.json(), url.href);
  } catch (e) {
    throw new ModelLoadError((e as Error).message);
  }
}

/** Removes every cached weights file. */
export async function clearWeightsCache(): Promise<void> {
  if (typeof caches !== 'undefined') await caches.delete(CACHE_NAME);
}

/** Total bytes of the cached weights (for the page), or null when there is no cache. */
export async function cachedBytes(): Promise<number | null> {
  const cache = await openCache();
  if (!cache) return null;
  let n = 0;
  for (const request of await cache.keys()) n += Number((await cache.match(request))?.headers.get('content-length') ?? 0);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Safetensors read by range

/** Storage of each safetensors dtype (as `RawTensor.data` of @svg/weights). */
const ARRAYS: Record<DType, (b: ArrayBuffer) => RawTensor['data']> = {
  F64: (b) => new Float64Array(b),
  F32: (b) => new Float32Array(b),
  F16: (b) => new Uint16Array(b),
  BF16: (b) => new Uint16Array(b),
  I64: (b) => new BigInt64Array(b),
  I32: (b) => new Int32Array(b),
  I16: (b) => new Int16Array(b),
  I8: (b) => new Int8Array(b),
  U8: (b) => new Uint8Array(b),
  BOOL: (b) => new Uint8Array(b),
};

/** Reads and checks the JSON header of a safetensors Blob without reading the tensor data. */
export async function readHeader(blob: Blob, label: string): Promise<SafetensorsHeader> {
  const first = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
  if (first[0] === 0x50 && first[1] === 0x4b) {
    throw new ModelLoadError(`${label} is a PyTorch zip checkpoint, not safetensors: convert it first with \`svg convert ${label} out.safetensors\``);
  }
  if (first[0] === 0x80) throw new ModelLoadError(`${label} is a pickled PyTorch checkpoint, not safetensors: convert it first with \`svg convert\``);
  if (first.length < 8) throw new ModelLoadError(`${label} is not a safetensors file (${blob.size} bytes)`);
  const view = new DataView(first.buffer);
  const length = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (length < 2 || length > Math.min(100_000_000, blob.size - 8)) {
    throw new ModelLoadError(`${label} is not a safetensors file (its first 8 bytes do not give a valid header length)`);
  }
  const json = new Uint8Array(await blob.slice(8, 8 + length).arrayBuffer());
  try {
    return parseSafetensorsHeader(json, blob.size, label);
  } catch (e) {
    throw new ModelLoadError((e as Error).message);
  }
}

async function readTensor(blob: Blob, header: SafetensorsHeader, entry: SafetensorsEntry): Promise<RawTensor> {
  const bytes = await blob.slice(header.dataStart + entry.begin, header.dataStart + entry.end).arrayBuffer();
  return { dtype: entry.dtype, shape: entry.shape, data: ARRAYS[entry.dtype](bytes) };
}

/** A state dict of shapes only (for config inference and key checks): data is empty. */
function shapesOnly(entries: Iterable<[string, SafetensorsEntry]>): Map<string, RawTensor> {
  return new Map([...entries].map(([name, e]) => [name, { dtype: e.dtype, shape: e.shape, data: new Float32Array(0) }]));
}

/**
 * Checks names and shapes of `entries` (model name → file entry) against `module`, reporting every problem at once
 * in @svg/nn's format, then loads the tensors one by one in file order.
 */
async function loadByTensor(
  module: Module,
  blob: Blob,
  header: SafetensorsHeader,
  entries: Map<string, SafetensorsEntry>,
  label: string,
  onProgress: ProgressFn,
  checkSize: (bytes: number, name: string) => void,
): Promise<void> {
  const params = new Map(module.namedParameters());
  const missing = [...params.keys()].filter((k) => !entries.has(k));
  const unexpected = [...entries.keys()].filter((k) => !params.has(k));
  const mismatched: string[] = [];
  for (const [name, p] of params) {
    const e = entries.get(name);
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const same = e && (e.shape.length === 0 || p.torchShape.length === 0 ? size(e.shape) === size(p.torchShape) : tf.util.arraysEqual(e.shape, p.torchShape));
    if (e && !same) mismatched.push(`${name}: expected [${p.torchShape}], got [${e.shape}]`);
  }
  if (missing.length || unexpected.length || mismatched.length) {
    throw new ModelLoadError(`${label}: ${new StateDictMismatchError(missing, unexpected, mismatched).message}`);
  }
  const order = [...entries].sort((a, b) => a[1].begin - b[1].begin);
  const total = order.reduce((n, [, e]) => n + (e.end - e.begin), 0);
  let done = 0;
  for (const [name, entry] of order) {
    checkSize(entry.shape.reduce((a, b) => a * b, 1) * 4, `${label}: tensor ${name}`);
    const raw = await readTensor(blob, header, entry);
    loadStateDict(module, new Map([[name, raw]]), { strict: false });
    done += entry.end - entry.begin;
    onProgress(done, total, 'load');
  }
}

/** The common prefix (`module.`, `model.`, `ema.`) that every key has, if any. */
function commonPrefix(names: string[]): string {
  for (const prefix of ['module.', 'model.', 'ema.']) if (names.length > 0 && names.every((n) => n.startsWith(prefix))) return prefix;
  return '';
}

// ---------------------------------------------------------------------------------------------------------------
// The three models

/** Loads a DiT from converted safetensors; the config is inferred from the weight shapes. */
export async function loadDiTWeights(blob: Blob, label: string, onProgress: ProgressFn, checkSize: (bytes: number, what: string) => void): Promise<DiT> {
  const header = await readHeader(blob, label);
  const prefix = commonPrefix(header.entries.map((e) => e.name));
  const entries = new Map(header.entries.map((e) => [e.name.slice(prefix.length), e]));
  let config;
  try {
    config = inferDiTConfig(shapesOnly(entries));
  } catch (e) {
    throw new ModelLoadError(`${label}: ${(e as Error).message}`);
  }
  const dit = new DiTModel(config);
  try {
    await loadByTensor(dit, blob, header, entries, label, onProgress, checkSize);
  } catch (e) {
    dit.dispose();
    throw e;
  }
  return dit.eval();
}

/** Reads the autoencoder config (YAML text); empty means the official SVG config. */
export function parseAutoencoderConfig(yamlText: string | null, label = 'autoencoder config'): SvgAutoencoderConfig {
  if (!yamlText) return SVG_AUTOENCODER_CONFIG as SvgAutoencoderConfig;
  try {
    return parseSvgAutoencoderConfig(yamlText);
  } catch (e) {
    throw new ModelLoadError(`${label}: ${(e as Error).message}`);
  }
}

/**
 * Loads the decoder of an SVG autoencoder: a converted autoencoder checkpoint (`decoder.*` keys are used, the
 * encoder and loss keys are skipped without being read) or a decoder-only file (keys without the prefix).
 */
export async function loadDecoderWeights(
  blob: Blob,
  label: string,
  config: SvgAutoencoderConfig,
  onProgress: ProgressFn,
  checkSize: (bytes: number, what: string) => void,
): Promise<SvgAutoencoder> {
  const header = await readHeader(blob, label);
  const prefix = commonPrefix(header.entries.map((e) => e.name));
  const names = header.entries.map((e) => e.name.slice(prefix.length));
  const hasDecoderKeys = names.some((n) => n.startsWith('decoder.'));
  const entries = new Map<string, SafetensorsEntry>();
  for (const e of header.entries) {
    const name = e.name.slice(prefix.length);
    if (hasDecoderKeys && name.startsWith('decoder.')) entries.set(name, e);
    else if (!hasDecoderKeys) entries.set(`decoder.${name}`, e);
  }
  let model: SvgAutoencoder;
  try {
    model = createSvgAutoencoder(config, { decoderOnly: true });
  } catch (e) {
    throw new ModelLoadError(`autoencoder config: ${(e as Error).message}`);
  }
  try {
    await loadByTensor(model, blob, header, entries, label, onProgress, checkSize);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** Latent statistics from a safetensors file (`dinov3_sp_mean` / `dinov3_sp_std`), or the official ones built in. */
export async function loadStats(blob: Blob | null, label: string): Promise<LatentStats> {
  if (!blob) return loadLatentStats();
  await readHeader(blob, label);
  try {
    return latentStatsFromSafetensors(new Uint8Array(await blob.arrayBuffer()));
  } catch (e) {
    throw new ModelLoadError(`${label}: ${(e as Error).message}`);
  }
}

/** Parameter count in millions, e.g. "675.1M". */
export function paramsLabel(module: Module): string {
  return `${(module.parameterCount() / 1e6).toFixed(1)}M`;
}
