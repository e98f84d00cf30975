import { type DType, type RawTensor, convertTensor, dtypeSize, isDType, numel, typedView } from './dtypes';
import { fail } from './errors';
import { type StateDictLike, toStateDict } from './state-dict';

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /** Label used in error messages (e.g. the file name); default `"<safetensors bytes>"`. */
  source?: string;
  /** Only read these tensors (names, or a predicate on the name). Default: all. */
  names?: readonly string[] | ((name: string) => boolean);
  /** Convert F16/BF16 to F32 and I64 to I32 (range-checked), see {@link convertTensor}. Default false. */
  convert?: boolean;
}

/** A decoded safetensors file: tensors in header order (sorted names) and the `__metadata__` strings. */
export interface Safetensors {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

/** One tensor entry of a safetensors header; `begin`/`end` are relative to the start of the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** A parsed safetensors header. */
export interface SafetensorsHeader {
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

/** Largest JSON header accepted (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

/**
 * Reads the 8-byte little-endian header length from the first bytes of a file of `fileSize` bytes and checks it.
 * Returns the JSON header's length in bytes.
 */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || first8.length < 8) fail(source, `truncated: ${fileSize} bytes, shorter than the 8-byte header length`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + low;
  if (high >= 2 ** 21 || length > fileSize - 8) {
    fail(source, `header length ${high >= 2 ** 21 ? 'over 2^53' : length} runs past the end of the file (${fileSize} bytes)`);
  }
  if (length > MAX_HEADER) fail(source, `header length ${length} is over the ${MAX_HEADER}-byte limit`);
  if (length < 2) fail(source, `header length ${length} is too short for a JSON object`);
  return length;
}

/**
 * Parses and validates a safetensors JSON header. `headerBytes` is the JSON text (without the 8 length bytes),
 * `fileSize` the size of the whole file. Checks dtypes, shapes, offsets (as the reference implementation: the
 * tensors tile the data section exactly, with no overlaps, gaps or trailing bytes), that each tensor's byte size
 * matches its shape, and that no object of the JSON has a key twice.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(source, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(source, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) fail(source, 'header is not a JSON object');
  const duplicate = duplicateJsonKey(text);
  if (duplicate !== undefined) fail(source, `header has the key ${JSON.stringify(duplicate).slice(0, 200)} twice (JSON readers disagree on which one counts)`);
  const dataStart = 8 + headerBytes.length;
  const dataLength = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(info, source);
      continue;
    }
    entries.push(checkEntry(name, info, dataLength, source));
  }
  // As the reference implementation (huggingface/safetensors `Metadata::validate` and `read_metadata`): in order of
  // offsets, every tensor starts where the previous one ended (no overlaps, no gaps) and the last one ends at the
  // end of the file (no trailing bytes). Sorting by (begin, end) puts an empty tensor before a non-empty one that
  // starts at the same byte, so an empty tensor cannot hide an overlap of its neighbours.
  const byStart = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let end = 0;
  for (let i = 0; i < byStart.length; i++) {
    const cur = byStart[i];
    if (cur.begin !== end) {
      const prev = byStart[i - 1];
      if (cur.begin < end) {
        fail(source, `tensors ${short(prev.name)} [${prev.begin}, ${prev.end}] and ${short(cur.name)} [${cur.begin}, ${cur.end}] overlap`);
      }
      const after = prev ? `tensor ${short(prev.name)} [${prev.begin}, ${prev.end}]` : 'the start of the data';
      fail(source, `${cur.begin - end} unused bytes between ${after} and tensor ${short(cur.name)} [${cur.begin}, ${cur.end}]`);
    }
    end = cur.end;
  }
  if (end !== dataLength) {
    fail(source, `${dataLength - end} trailing bytes after the last tensor (the tensors cover ${end} of the ${dataLength} data bytes)`);
  }
  return { dataStart, entries, metadata };
}

function checkMetadata(info: unknown, source: string): Record<string, string> {
  if (!isPlainObject(info)) fail(source, '__metadata__ is not an object');
  for (const [k, v] of Object.entries(info)) {
    if (typeof v !== 'string') fail(source, `__metadata__[${short(k)}] is not a string`);
  }
  return info as Record<string, string>;
}

function checkEntry(name: string, info: unknown, dataLength: number, source: string): SafetensorsEntry {
  const where = `tensor ${short(name)}`;
  if (!isPlainObject(info)) fail(source, `${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (!isDType(dtype)) fail(source, `${where}: unknown dtype ${short(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(source, `${where}: shape ${short(shape)} is not a list of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(source, `${where}: data_offsets ${short(offsets)} are not [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as number[];
  if (end > dataLength) {
    fail(source, `${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes; file truncated?)`);
  }
  const bytes = numel(shape) * dtypeSize(dtype);
  if (bytes !== end - begin) {
    fail(source, `${where}: shape [${dims(shape as number[])}] of ${dtype} needs ${bytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * The first key that occurs twice in one object of `text` (valid JSON), or undefined. `JSON.parse` silently keeps
 * the last of duplicate keys while other readers keep the first, so such headers are ambiguous. One linear pass.
 */
function duplicateJsonKey(text: string): string | undefined {
  const objects: (Set<string> | null)[] = []; // null: an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // '"'
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) { // backslash
          escaped = true;
          j++;
        } else if (d === 0x22) break;
      }
      const top = objects[objects.length - 1];
      if (expectKey && top) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) { // '{'
      objects.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) { // '['
      objects.push(null);
    } else if (c === 0x7d || c === 0x5d) { // '}' ']'
      objects.pop();
    } else if (c === 0x2c) { // ','
      expectKey = objects[objects.length - 1] != null;
    }
  }
  return undefined;
}

/** JSON text of a header value for messages, at most 200 characters. */
function short(x: unknown): string {
  const text = JSON.stringify(x) ?? 'undefined';
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** At most 16 dimensions of a shape, for messages. */
function dims(a: number[]): string {
  return a.length <= 16 ? a.join(', ') : `${a.slice(0, 16).join(', ')}, ... (${a.length} dims)`;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Whether `name` passes a {@link ReadSafetensorsOptions.names} filter. */
export function nameFilter(names: ReadSafetensorsOptions['names']): (name: string) => boolean {
  if (!names) return () => true;
  if (typeof names === 'function') return names;
  const set = new Set(names);
  return (name) => set.has(name);
}

/**
 * Decodes a safetensors file held in memory. Tensor data are zero-copy views into `bytes` where the offset is
 * aligned to the element size (always, for canonically written files in a fresh buffer), copies otherwise.
 * Throws {@link WeightsFormatError} for any malformed input.
 *
 * @example
 * const { tensors, metadata } = readSafetensors(bytes, { source: 'model.safetensors' });
 * const w = toFloat32(tensors.get('proj.weight')!);
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): Safetensors {
  const source = options.source ?? '<safetensors bytes>';
  const headerLength = safetensorsHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLength), bytes.length, source);
  const wanted = nameFilter(options.names);
  const tensors = new Map<string, RawTensor>();
  for (const e of header.entries) {
    if (!wanted(e.name)) continue;
    const data = typedView(e.dtype, bytes, header.dataStart + e.begin, numel(e.shape));
    const raw: RawTensor = { dtype: e.dtype, shape: e.shape, data };
    tensors.set(e.name, options.convert ? convertTensor(raw, `${source}: tensor "${e.name}"`) : raw);
  }
  return { tensors, metadata: header.metadata };
}

/** Where each tensor goes in a canonical safetensors file. */
export interface SafetensorsLayout {
  /** The 8 length bytes plus the padded JSON header. */
  header: Uint8Array;
  /** Tensors in data order with their offsets relative to the data section. */
  entries: { name: string; tensor: RawTensor; begin: number; end: number }[];
  /** Total file size in bytes. */
  size: number;
}

/**
 * Plans the canonical layout (as the fixtures are written): JSON header with sorted keys, `__metadata__`, ASCII
 * escapes, padded with spaces to a multiple of 8; data ordered by decreasing element size then name, no gaps.
 */
export function safetensorsLayout(tensors: StateDictLike, metadata: Record<string, string> = {}): SafetensorsLayout {
  const sd = toStateDict(tensors);
  const names = [...sd.keys()];
  for (const name of names) checkWritable(name, sd.get(name)!);
  const order = [...names].sort((a, b) => dtypeSize(sd.get(b)!.dtype) - dtypeSize(sd.get(a)!.dtype) || compareCodePoints(a, b));
  const entries: SafetensorsLayout['entries'] = [];
  let offset = 0;
  for (const name of order) {
    const tensor = sd.get(name)!;
    const end = offset + tensor.data.byteLength;
    entries.push({ name, tensor, begin: offset, end });
    offset = end;
  }
  const json: Record<string, unknown> = {};
  const keys = [...names, '__metadata__'].sort(compareCodePoints);
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const key of keys) {
    if (key === '__metadata__') {
      json[key] = Object.fromEntries(Object.keys(metadata).sort(compareCodePoints).map((k) => [k, metadata[k]]));
      continue;
    }
    const e = byName.get(key)!;
    json[key] = { data_offsets: [e.begin, e.end], dtype: e.tensor.dtype, shape: e.tensor.shape };
  }
  const text = JSON.stringify(json).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const padded = text + ' '.repeat((8 - (text.length % 8)) % 8);
  const header = new Uint8Array(8 + padded.length);
  new DataView(header.buffer).setUint32(0, padded.length, true);
  for (let i = 0; i < padded.length; i++) header[8 + i] = padded.charCodeAt(i);
  return { header, entries, size: header.length + offset };
}

function checkWritable(name: string, t: RawTensor): void {
  if (name === '__metadata__') throw new Error('a tensor cannot be named "__metadata__"');
  if (!isDType(t.dtype)) throw new Error(`tensor "${name}": unknown dtype ${t.dtype}`);
  const n = numel(t.shape);
  if (t.data.length !== n || t.data.BYTES_PER_ELEMENT !== dtypeSize(t.dtype)) {
    throw new Error(`tensor "${name}": ${t.dtype} shape [${t.shape.join(', ')}] needs ${n} elements of ${dtypeSize(t.dtype)} bytes, data has ${t.data.length} of ${t.data.BYTES_PER_ELEMENT}`);
  }
}

/** Python's string order (by code point), so headers sort exactly as `json.dumps(sort_keys=True)`. */
function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Bytes of a tensor's data (a view, no copy). */
export function tensorBytes(t: RawTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * Encodes tensors (a `Map` or plain object of {@link RawTensor}) and optional string metadata as a safetensors
 * file in the canonical layout (see {@link safetensorsLayout}); byte-identical to the fixtures' writer.
 */
export function writeSafetensors(tensors: StateDictLike, metadata: Record<string, string> = {}): Uint8Array {
  const layout = safetensorsLayout(tensors, metadata);
  const out = new Uint8Array(layout.size);
  out.set(layout.header);
  for (const e of layout.entries) out.set(tensorBytes(e.tensor), layout.header.length + e.begin);
  return out;
}
