import { type DType, type RawTensor, type TypedArray, allocTyped, numel, typedView } from './dtypes';
import { fail } from './errors';
import { type ZipEntry, ZipEntryCursor, chunkStream, readZipDirectory, readZipEntry } from './zip';

/** Longest `.npy` header accepted, as numpy's own default (`max_header_size`). */
export const NPY_MAX_HEADER = 10000;
/** Bytes before the header text of a `.npy` file (magic, version, length field) for versions 1.0 and 2.0/3.0. */
const PREFIX_V1 = 10;
const PREFIX_V2 = 12;

/** The header of a `.npy` array: how its data are laid out. */
export interface NpyHeader {
  /** Format version, `[1, 0]`, `[2, 0]` or `[3, 0]`. */
  version: [number, number];
  /** numpy's `dtype.str` as written in the file: `'<f8'`, `'|u1'`, `'>f4'`, ... */
  descr: string;
  /**
   * The dtype of the tensor this reader returns. Equal to the file's except that `uint16` is widened to I32 and
   * `uint32` to I64 (lossless; {@link RawTensor} has no unsigned 16/32-bit dtypes). Byte order is always native.
   */
  dtype: DType;
  /** Logical shape; `[]` for a 0-d array. */
  shape: number[];
  /** Whether the file stores the data column-major (readers return row-major data either way). */
  fortranOrder: boolean;
  /** Offset of the array data from the start of the `.npy` bytes. */
  dataOffset: number;
  /** Bytes of array data: elements × bytes per element in the file. */
  dataBytes: number;
  /** Bytes per element in the file. */
  itemSize: number;
}

interface NpyKind {
  dtype: DType;
  /** uint16 → I32, uint32 → I64 */
  widen?: 'u2' | 'u4';
}

const KINDS: Record<string, NpyKind> = {
  b1: { dtype: 'BOOL' },
  u1: { dtype: 'U8' },
  i1: { dtype: 'I8' },
  i2: { dtype: 'I16' },
  i4: { dtype: 'I32' },
  i8: { dtype: 'I64' },
  f2: { dtype: 'F16' },
  f4: { dtype: 'F32' },
  f8: { dtype: 'F64' },
  u2: { dtype: 'I32', widen: 'u2' },
  u4: { dtype: 'I64', widen: 'u4' },
};

const KIND_NAMES: Record<string, string> = {
  O: 'object arrays hold pickled Python objects, which this reader never unpickles',
  c: 'complex dtypes are not supported',
  U: 'unicode string arrays are not supported',
  S: 'byte string arrays are not supported',
  a: 'byte string arrays are not supported',
  V: 'void / structured dtypes are not supported',
  M: 'datetime64 arrays are not supported',
  m: 'timedelta64 arrays are not supported',
};

/** Parses numpy's `descr` string; throws for dtypes {@link RawTensor} cannot hold. */
function parseDescr(descr: unknown, source: string): { kind: NpyKind; itemSize: number; bigEndian: boolean; descr: string } {
  if (typeof descr !== 'string') fail(source, `npy: structured dtype ${pyRepr(descr)} is not supported`);
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr);
  if (m && KIND_NAMES[m[2]]) fail(source, `npy: unsupported dtype '${descr}': ${KIND_NAMES[m[2]]}`);
  const kind = m ? KINDS[m[2] + m[3]] : undefined;
  if (!m || !kind) {
    const hint = m && m[2] === 'u' && m[3] === '8' ? ' (uint64 values may not fit int64)' : '';
    fail(source, `npy: unsupported dtype '${descr}'${hint}; supported: |b1 |u1 |i1 <i2 <i4 <i8 <u2 <u4 <f2 <f4 <f8 (either byte order)`);
  }
  const itemSize = Number(m[3]);
  return { kind, itemSize, bigEndian: m[1] === '>' && itemSize > 1, descr };
}

/**
 * Bytes from the start of a `.npy` file to its array data, from the file's first 12 bytes (fewer is enough for
 * version 1.0 files of 10 bytes or more). Throws for a bad magic string, version or header length.
 */
export function npyHeaderLength(prefix: Uint8Array, source: string): number {
  if (prefix.length < PREFIX_V1) fail(source, `npy: ${prefix.length} bytes are too short for a .npy header (truncated?)`);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  for (let i = 0; i < 6; i++) if (prefix[i] !== magic[i]) fail(source, 'npy: not a .npy array (magic string \\x93NUMPY missing)');
  const major = prefix[6];
  const minor = prefix[7];
  if (!(major >= 1 && major <= 3) || minor !== 0) fail(source, `npy: unsupported .npy format version ${major}.${minor} (1.0, 2.0 and 3.0 are)`);
  let length: number;
  let start: number;
  if (major === 1) {
    length = prefix[8] | (prefix[9] << 8);
    start = PREFIX_V1;
  } else {
    if (prefix.length < PREFIX_V2) fail(source, `npy: ${prefix.length} bytes are too short for a version ${major}.0 header (truncated?)`);
    length = (prefix[8] | (prefix[9] << 8) | (prefix[10] << 16) | (prefix[11] << 24)) >>> 0;
    start = PREFIX_V2;
  }
  if (length > NPY_MAX_HEADER) fail(source, `npy: header of ${length} bytes is too long (limit ${NPY_MAX_HEADER}, as numpy's)`);
  return start + length;
}

/**
 * Parses a `.npy` header from the first bytes of the file (at least {@link npyHeaderLength} of them; the data may
 * follow). `size`, when given, is the length of the whole `.npy` file and must match the shape and dtype exactly.
 */
export function parseNpyHeader(bytes: Uint8Array, source: string, size?: number): NpyHeader {
  const dataOffset = npyHeaderLength(bytes, source);
  if (bytes.length < dataOffset) fail(source, `npy: header needs ${dataOffset} bytes, only ${bytes.length} present (truncated)`);
  const major = bytes[6];
  const start = major === 1 ? PREFIX_V1 : PREFIX_V2;
  const raw = bytes.subarray(start, dataOffset);
  const text = major === 3 ? new TextDecoder('utf-8', { fatal: false }).decode(raw) : latin1(raw);
  let dict: unknown;
  try {
    dict = parsePyLiteral(text);
  } catch (e) {
    fail(source, `npy: header is not a Python literal (${(e as Error).message}): ${JSON.stringify(text.trim().slice(0, 200))}`);
  }
  if (!(dict instanceof Map)) fail(source, `npy: header is not a dict: ${JSON.stringify(text.trim().slice(0, 200))}`);
  const keys = [...dict.keys()].sort().join(', ');
  if (keys !== 'descr, fortran_order, shape') fail(source, `npy: header keys are [${keys}], expected descr, fortran_order, shape`);
  const { kind, itemSize } = parseDescr(dict.get('descr'), source);
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') fail(source, `npy: fortran_order is ${pyRepr(fortran)}, not True or False`);
  const shapeValue = dict.get('shape');
  if (!Array.isArray(shapeValue) || !shapeValue.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    fail(source, `npy: shape ${pyRepr(shapeValue)} is not a tuple of non-negative integers`);
  }
  const shape = shapeValue as number[];
  const dataBytes = numel(shape) * itemSize;
  if (!Number.isSafeInteger(dataBytes)) fail(source, `npy: shape (${shape.join(', ')}) is too large`);
  if (size !== undefined && size !== dataOffset + dataBytes) {
    const what = size < dataOffset + dataBytes ? 'truncated data' : 'size mismatch';
    fail(source, `npy: ${what}: ${size - dataOffset} data bytes, shape (${shape.join(', ')}) of '${dict.get('descr')}' needs ${dataBytes}`);
  }
  return { version: [major, 0], descr: dict.get('descr') as string, dtype: kind.dtype, shape, fortranOrder: fortran, dataOffset, dataBytes, itemSize };
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes array data laid out as `header` says (its byte order and order; `shape` defaults to the header's and
 * may be a run of rows for C-order arrays) into a row-major native-endian {@link RawTensor}. Zero-copy when
 * possible (little-endian, aligned, C order, not widened).
 */
export function decodeNpyData(header: NpyHeader, data: Uint8Array, source: string, shape: number[] = header.shape): RawTensor {
  if (!LITTLE_ENDIAN) throw new Error('@svg/weights needs a little-endian host');
  const { kind, itemSize, bigEndian } = parseDescr(header.descr, source);
  const n = numel(shape);
  if (data.length !== n * itemSize) {
    fail(source, `npy: ${data.length < n * itemSize ? 'truncated data' : 'size mismatch'}: ${data.length} data bytes, shape (${shape.join(', ')}) of '${header.descr}' needs ${n * itemSize}`);
  }
  let bytes = data;
  if (bigEndian) {
    bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i += itemSize) for (let k = 0; k < itemSize; k++) bytes[i + k] = data[i + itemSize - 1 - k];
  }
  let values: TypedArray;
  if (kind.widen === 'u2') {
    const src = new Uint16Array(n);
    new Uint8Array(src.buffer).set(bytes);
    values = Int32Array.from(src);
  } else if (kind.widen === 'u4') {
    const src = new Uint32Array(n);
    new Uint8Array(src.buffer).set(bytes);
    values = new BigInt64Array(n);
    for (let i = 0; i < n; i++) values[i] = BigInt(src[i]);
  } else {
    values = typedView(kind.dtype, bytes, 0, n);
    if (kind.dtype === 'BOOL') {
      // numpy reads any non-zero byte as True; RawTensor booleans are 0 or 1.
      const u8 = values as Uint8Array;
      if (u8.some((v) => v > 1)) values = u8.map((v) => (v ? 1 : 0));
    }
  }
  const tensor: RawTensor = { dtype: kind.dtype, shape: [...shape], data: values };
  return header.fortranOrder && shape.length > 1 ? fortranToC(tensor) : tensor;
}

/** Column-major data → row-major, same logical shape. */
function fortranToC(t: RawTensor): RawTensor {
  const { shape } = t;
  const nd = shape.length;
  const n = numel(shape);
  const src = t.data as unknown as ArrayLike<number | bigint>;
  const out = allocTyped(t.dtype, n);
  const dst = out as unknown as { [i: number]: number | bigint };
  const strides: number[] = [];
  for (let k = 0, s = 1; k < nd; k++) {
    strides.push(s);
    s *= shape[k];
  }
  const idx = new Array<number>(nd).fill(0);
  let at = 0;
  for (let o = 0; o < n; o++) {
    dst[o] = src[at];
    for (let k = nd - 1; k >= 0; k--) {
      idx[k]++;
      at += strides[k];
      if (idx[k] < shape[k]) break;
      at -= strides[k] * shape[k];
      idx[k] = 0;
    }
  }
  return { dtype: t.dtype, shape, data: out };
}

/**
 * Decodes a `.npy` file held in memory (versions 1.0, 2.0, 3.0). Returns row-major, native-endian data: big-endian
 * arrays are byte-swapped, Fortran-order arrays transposed, `uint16` / `uint32` widened (see {@link NpyHeader}).
 * Little-endian C-order data are zero-copy views into `bytes` when aligned. Throws {@link WeightsFormatError} for
 * malformed, truncated or unsupported input (object arrays `|O` included).
 *
 * @example
 * const t = readNpy(new Uint8Array(await (await fetch('mu.npy')).arrayBuffer()), 'mu.npy');
 * // { dtype: 'F64', shape: [2048], data: Float64Array }
 */
export function readNpy(bytes: Uint8Array, source = '<npy bytes>'): RawTensor {
  const header = parseNpyHeader(bytes, source, bytes.length);
  return decodeNpyData(header, bytes.subarray(header.dataOffset), source);
}

// ---------------------------------------------------------------------------------------------------------------
// Python literals (the header dict)

/** Parses the small Python literal subset `.npy` headers use: dicts, tuples, lists, strings, ints, True/False/None. */
function parsePyLiteral(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) throw new Error(`expected '${c}' at ${i}`);
    i++;
  };
  const value = (depth: number): unknown => {
    if (depth > 16) throw new Error('nested too deeply');
    ws();
    const c = text[i];
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: unknown[] = [];
      const map = new Map<unknown, unknown>();
      let commas = 0;
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          break;
        }
        const v = value(depth + 1);
        if (c === '{') {
          expect(':');
          map.set(v, value(depth + 1));
        } else items.push(v);
        ws();
        if (text[i] === ',') {
          i++;
          commas++;
        } else if (text[i] !== close) throw new Error(`expected ',' or '${close}' at ${i}`);
      }
      if (c === '(' && items.length === 1 && commas === 0) return items[0]; // (x) is x, not a tuple
      return c === '{' ? map : items;
    }
    if (c === "'" || c === '"') {
      i++;
      let s = '';
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\') i++;
        s += text[i++];
      }
      if (text[i] !== c) throw new Error('unterminated string');
      i++;
      return s;
    }
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(text.slice(i, i + 40));
    if (!m) throw new Error(`unexpected ${JSON.stringify(text.slice(i, i + 10))} at ${i}`);
    i += m[0].length;
    if (m[2]) return m[2] === 'None' ? null : m[2] === 'True';
    return Number(m[1]);
  };
  const v = value(0);
  ws();
  if (i !== text.length) throw new Error(`trailing text at ${i}`);
  return v;
}

function pyRepr(v: unknown): string {
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  if (Array.isArray(v)) return `(${v.map(pyRepr).join(', ')})`;
  if (typeof v === 'string') return `'${v}'`;
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

// ---------------------------------------------------------------------------------------------------------------
// .npz

/** One array of a `.npz` archive, from its zip entry and `.npy` header only (see {@link npzInfo}). */
export interface NpzMember extends NpyHeader {
  /** The array's key, as `np.load(...)[key]`: the member name without `.npy` (`'arr_0'`, `'mu'`). */
  name: string;
  /** The zip member name (`'arr_0.npy'`). */
  member: string;
  /** Deflated (`np.savez_compressed`) rather than stored (`np.savez`). */
  compressed: boolean;
  /** Bytes of the member in the archive (compressed size). */
  compressedSize: number;
  /** Bytes of the member's `.npy` file (header and data). */
  size: number;
}

/** Options of {@link readNpz} and the `@svg/weights/node` npz readers. */
export interface ReadNpzOptions {
  /** Label used in error messages (e.g. the file name); default `"<npz bytes>"` (the path for file readers). */
  source?: string;
  /**
   * Only read these arrays (keys as `np.load` gives them, `'mu'`, or member names, `'mu.npy'`; or a predicate on
   * the key). A listed key that is missing throws. Default: all.
   */
  names?: readonly string[] | ((name: string) => boolean);
  /** Check each member's CRC-32 (cheap next to inflating; default true). Sizes are always checked. */
  checkCrc?: boolean;
}

/** The array key of a zip member name, or undefined for members that are not `.npy` arrays. */
export function npzKey(member: string): string | undefined {
  return member.endsWith('.npy') ? member.slice(0, -4) : undefined;
}

/**
 * The entries `options.names` selects, in archive order, as `[key, entry]` pairs. Throws, listing the members
 * present, when a requested array is missing.
 */
export function selectNpzEntries(entries: Map<string, ZipEntry>, options: ReadNpzOptions, source: string): [string, ZipEntry][] {
  const arrays: [string, ZipEntry][] = [];
  for (const [member, entry] of entries) {
    const key = npzKey(member);
    if (key !== undefined) arrays.push([key, entry]);
  }
  const { names } = options;
  if (!names) return arrays;
  if (typeof names === 'function') return arrays.filter(([key]) => names(key));
  const wanted = new Set(names.map((n) => npzKey(n) ?? n));
  const present = new Set(arrays.map(([key]) => key));
  for (const key of wanted) if (!present.has(key)) missingMember(entries, key, source);
  return arrays.filter(([key]) => wanted.has(key));
}

/** Throws the error for a missing array `key`, listing the members present. */
export function missingMember(entries: Map<string, ZipEntry>, key: string, source: string): never {
  const members = [...entries.keys()].map((m) => `"${m}"`).join(', ');
  fail(source, `npz: missing member "${key}.npy" (members: ${members || 'none'})`);
}

/** {@link NpzMember} from a member's key, zip entry and parsed header. */
export function npzMemberInfo(key: string, entry: ZipEntry, header: NpyHeader): NpzMember {
  return { name: key, member: entry.name, compressed: entry.method !== 0, compressedSize: entry.size, size: entry.uncompressedSize, ...header };
}

/** A reader of an entry's uncompressed bytes from its start: each call returns the next `length` bytes. */
function entryReader(bytes: Uint8Array, entry: ZipEntry, source: string): { read: (length: number) => Promise<Uint8Array>; close: () => Promise<void> } {
  if (entry.method === 0) {
    let at = 0;
    return {
      read: async (n) => bytes.subarray(entry.offset + at, entry.offset + (at += n)),
      close: async () => undefined,
    };
  }
  const cursor = new ZipEntryCursor(entry, chunkStream(bytes.subarray(entry.offset, entry.offset + entry.size), 1 << 16), source, false);
  return { read: (n) => cursor.read(n), close: () => cursor.cancel() };
}

/**
 * Reads and parses the `.npy` header of one member through `read`, which returns the member's next `length`
 * uncompressed bytes on each call (starting at its beginning); checks the member's size against the header.
 * Returns the header and its bytes (everything before the array data).
 */
export async function npzMemberHeader(
  entry: ZipEntry,
  source: string,
  read: (length: number) => Promise<Uint8Array>,
): Promise<{ header: NpyHeader; headerBytes: Uint8Array }> {
  const src = `${source}: "${entry.name}"`;
  const prefix = await read(Math.min(PREFIX_V2, entry.uncompressedSize));
  const length = npyHeaderLength(prefix, src);
  if (length > entry.uncompressedSize) fail(src, `npy: header needs ${length} bytes, the member has ${entry.uncompressedSize} (truncated)`);
  const headerBytes = new Uint8Array(length);
  headerBytes.set(prefix.subarray(0, length));
  if (length > prefix.length) headerBytes.set(await read(length - prefix.length), prefix.length);
  return { header: parseNpyHeader(headerBytes, src, entry.uncompressedSize), headerBytes };
}

/**
 * Lists the arrays of a `.npz` archive held in memory — key, dtype, shape, order, sizes — from the zip directory
 * and each `.npy` header alone (deflated members are inflated only as far as their header). Members that are not
 * `.npy` files are skipped. Throws {@link WeightsFormatError} for malformed archives or headers.
 *
 * @example
 * for (const m of await npzInfo(bytes)) console.log(m.name, m.descr, m.shape); // arr_0 |u1 [50000, 256, 256, 3]
 */
export async function npzInfo(bytes: Uint8Array, options: { source?: string } = {}): Promise<NpzMember[]> {
  const source = options.source ?? '<npz bytes>';
  const entries = readZipDirectory(bytes, source);
  const out: NpzMember[] = [];
  for (const [key, entry] of selectNpzEntries(entries, {}, source)) {
    const reader = entryReader(bytes, entry, source);
    try {
      const { header } = await npzMemberHeader(entry, source, reader.read);
      out.push(npzMemberInfo(key, entry, header));
    } finally {
      await reader.close();
    }
  }
  return out;
}

/**
 * Decodes a `.npz` archive held in memory (`np.savez` stored members and `np.savez_compressed` deflated ones,
 * zip64 included) into a `Map` from key (`'arr_0'`, `'mu'`, in archive order) to {@link RawTensor}, each as
 * {@link readNpy} returns it. Deflated members are inflated with the web-standard
 * `DecompressionStream('deflate-raw')`; sizes and CRC-32s are checked. Little-endian C-order arrays of stored
 * members are zero-copy views into `bytes` where aligned. Members that are not `.npy` files are skipped. Throws {@link WeightsFormatError} naming the source and the problem for any malformed input.
 *
 * @example
 * const arrays = await readNpz(bytes, { names: ['mu', 'sigma'], source: 'VIRTUAL_imagenet256_labeled.npz' });
 * arrays.get('sigma'); // { dtype: 'F64', shape: [2048, 2048], data: Float64Array }
 */
export async function readNpz(bytes: Uint8Array, options: ReadNpzOptions = {}): Promise<Map<string, RawTensor>> {
  const source = options.source ?? '<npz bytes>';
  const entries = readZipDirectory(bytes, source);
  const out = new Map<string, RawTensor>();
  for (const [key, entry] of selectNpzEntries(entries, options, source)) {
    const member = await readZipEntry(bytes, entry, source, options.checkCrc ?? true);
    out.set(key, readNpy(member, `${source}: "${entry.name}"`));
  }
  return out;
}
