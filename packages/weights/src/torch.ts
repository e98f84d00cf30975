import { type DType, type RawTensor, type TypedArray, allocTyped, dtypeSize, halfToNumber, numel, typedView } from './dtypes';
import { fail } from './errors';
import { PickleGlobal, PickleObject, checkedAdd, checkedSet, describeValue, guardLimits, unpickle } from './pickle';
import { readSafetensors } from './safetensors';
import { readZipDirectory, zipEntryBytes } from './zip';

/** Options of {@link readTorchCheckpoint}. */
export interface ReadTorchOptions {
  /** Label used in error messages (e.g. the file name); default `"<checkpoint bytes>"`. */
  source?: string;
  /**
   * Most bytes the reader may allocate for copies while reading one file: strided and expanded views materialised
   * as row-major tensors, unaligned storages, Fortran-order numpy arrays, and lists, sets and dicts rebuilt from
   * other ones. Default {@link defaultMaterializeLimit}: `max(64 MiB, 16 × the file size)`. A hostile file can name
   * one small storage from many views that each expand it (a 583-byte file could otherwise ask for 512 MiB, a
   * 2.4 KB one for 8 GiB); real checkpoints hold contiguous tensors, which are views of the file and cost nothing.
   * Raise it for a trusted file that needs more; exceeding it throws a {@link WeightsFormatError} naming the limit.
   */
  maxMaterializedBytes?: number;
}

/** The default of {@link ReadTorchOptions.maxMaterializedBytes} for a file of `fileSize` bytes. */
export function defaultMaterializeLimit(fileSize: number): number {
  return Math.max(64 * 2 ** 20, 16 * fileSize);
}

/** Deepest nesting of tensor-rebuilding calls (`_rebuild_from_type_v2`, `copyreg.__newobj__`, ...) accepted. */
export const MAX_CALL_DEPTH = 1000;

/** Counts the bytes copied while reading one file against {@link ReadTorchOptions.maxMaterializedBytes}. */
class Budget {
  used = 0;
  constructor(
    readonly source: string,
    readonly limit: number,
  ) {}
  charge(bytes: number, what: string): void {
    this.used += bytes;
    if (this.used > this.limit) {
      fail(this.source, `${what} would bring the bytes materialised from this file to ${this.used}, over the limit of ${this.limit} (raise ReadTorchOptions.maxMaterializedBytes to allow it; default max(64 MiB, 16 × file size))`);
    }
  }
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

/** A torch storage: typed elements, filled when its bytes are located (at once for zip files, later for legacy). */
class Storage {
  data?: TypedArray;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    /** For legacy storage views: the root storage and the element offset into it. */
    readonly root?: Storage,
    readonly offset = 0,
  ) {}
}

interface PendingTensor {
  tensor: RawTensor;
  storage: Storage;
  offset: number;
  stride: number[];
}

/** Largest number of elements a strided view may expand to beyond its storage size (guards against bombs). */
const MAX_EXPANDED = 1 << 24;
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** The container format of a checkpoint, judged from its first bytes. */
export type CheckpointFormat = 'safetensors' | 'torch-zip' | 'torch-legacy' | 'torch-tar' | 'unknown';

/** Detects the format of checkpoint bytes (needs only the first 512 bytes for torch formats). */
export function detectCheckpointFormat(bytes: Uint8Array): CheckpointFormat {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'torch-zip';
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) return 'torch-legacy';
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') return 'torch-tar';
  if (bytes.length >= 10 && bytes[8] === 0x7b) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
    if (view.getUint32(4, true) === 0 && view.getUint32(0, true) <= bytes.length - 8) return 'safetensors';
  }
  return 'unknown';
}

/**
 * Reads any supported checkpoint held in memory: a torch zip or legacy file (see {@link readTorchCheckpoint}) or a
 * safetensors file (returned as its `Map` of tensors, i.e. a state dict).
 */
export function readCheckpoint(bytes: Uint8Array, options: ReadTorchOptions = {}): unknown {
  const source = options.source ?? '<checkpoint bytes>';
  const format = detectCheckpointFormat(bytes);
  if (format === 'safetensors') return readSafetensors(bytes, { source }).tensors;
  if (format === 'unknown') fail(source, 'not a safetensors, torch zip or torch legacy checkpoint');
  return readTorchCheckpoint(bytes, { ...options, source });
}

/**
 * Reads a `torch.save` file (zip format, or the legacy pickle format of `_use_new_zipfile_serialization=False`)
 * without executing anything. Returns the unpickled object tree (see `unpickle` for the value mapping; dicts and
 * OrderedDicts are `Map`s, so keys keep their order and Python type). Tensors become {@link RawTensor}s with their
 * logical shape and row-major data: contiguous tensors are zero-copy views of the file bytes when aligned (tensors
 * over one storage then share one buffer), strided views are materialised as copies. Parameters become plain tensors.
 * Unknown classes become inert `PickleObject`s; globals that could run code (os.system, builtins.eval, ...)
 * raise {@link WeightsFormatError}, as does any malformed input.
 *
 * @example
 * const ckpt = readTorchCheckpoint(bytes, { source: 'model.pth' });
 * const sd = findStateDict(ckpt);
 */
export function readTorchCheckpoint(bytes: Uint8Array, options: ReadTorchOptions = {}): unknown {
  const source = options.source ?? '<checkpoint bytes>';
  const format = detectCheckpointFormat(bytes);
  const limit = options.maxMaterializedBytes ?? defaultMaterializeLimit(bytes.length);
  if (!(limit >= 0)) throw new RangeError(`maxMaterializedBytes must be a non-negative number, not ${limit}`);
  const budget = new Budget(source, limit);
  if (format === 'torch-zip') return guardLimits(source, () => readZipCheckpoint(bytes, source, budget));
  if (format === 'torch-legacy') return guardLimits(source, () => readLegacyCheckpoint(bytes, source, budget));
  if (format === 'torch-tar') fail(source, 'legacy tar checkpoints (torch < 0.4) are not supported; re-save with a newer torch');
  fail(source, 'not a torch checkpoint (neither a zip archive nor a pickle)');
}

function readZipCheckpoint(bytes: Uint8Array, source: string, budget: Budget): unknown {
  const entries = readZipDirectory(bytes, source);
  const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n)) ?? (entries.has('data.pkl') ? 'data.pkl' : undefined);
  if (!pkl) fail(source, 'zip archive has no <name>/data.pkl: not a torch checkpoint');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && new TextDecoder().decode(zipEntryBytes(bytes, byteorder, source)).trim() === 'big') {
    fail(source, 'big-endian checkpoints are not supported');
  }
  const storages = new Map<string, Storage>();
  const loader = new TensorLoader(source, budget);
  const persistentLoad = (pid: unknown) => {
    const { key, dtype, count } = parseStoragePid(pid, source);
    const id = `${key}:${dtype}`;
    let storage = storages.get(id);
    if (!storage) {
      storage = new Storage(key, dtype, count);
      const entry = entries.get(`${prefix}data/${key}`);
      if (!entry) fail(source, `storage "${key}" has no zip entry ${prefix}data/${key}`);
      const raw = zipEntryBytes(bytes, entry, source);
      if (raw.length < count * dtypeSize(dtype)) {
        fail(source, `storage "${key}": ${count} ${dtype} elements need ${count * dtypeSize(dtype)} bytes, the entry has ${raw.length}`);
      }
      if ((raw.byteOffset % dtypeSize(dtype)) !== 0) budget.charge(count * dtypeSize(dtype), `copying unaligned storage "${key}"`);
      storage.data = typedView(dtype, raw, 0, count);
      storages.set(id, storage);
    }
    return storage;
  };
  const { value } = unpickle(zipEntryBytes(bytes, entries.get(pkl)!, source), {
    source,
    persistentLoad,
    call: loader.call,
    build: loader.build,
  });
  loader.materialise();
  return value;
}

function readLegacyCheckpoint(bytes: Uint8Array, source: string, budget: Budget): unknown {
  const plain = (start: number) => unpickle(bytes, { source, start, call: () => undefined });
  const magic = plain(0);
  if (magic.value !== LEGACY_MAGIC) fail(source, 'legacy checkpoint: wrong magic number (not a torch file)');
  const protocol = plain(magic.end);
  if (protocol.value !== 1001) fail(source, `legacy checkpoint: unsupported protocol version ${describeValue(protocol.value)}`);
  const sysInfo = plain(protocol.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) fail(source, 'big-endian checkpoints are not supported');

  const storages = new Map<string, Storage>();
  const loader = new TensorLoader(source, budget);
  const persistentLoad = (pid: unknown) => {
    if (Array.isArray(pid) && pid[0] === 'module') return pid[1];
    const { key, dtype, count, view } = parseStoragePid(pid, source);
    let root = storages.get(key);
    if (!root) {
      root = new Storage(key, dtype, count);
      storages.set(key, root);
    } else if (root.dtype !== dtype && !view) {
      fail(source, `storage "${key}" is used as both ${root.dtype} and ${dtype}`);
    }
    if (!view) return root;
    const [viewKey, offset, size] = view;
    return new Storage(typeof viewKey === 'string' || typeof viewKey === 'number' ? String(viewKey) : describeValue(viewKey), root.dtype, size, root, offset);
  };
  const main = unpickle(bytes, { source, start: sysInfo.end, persistentLoad, call: loader.call, build: loader.build });
  const keys = plain(main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) fail(source, 'legacy checkpoint: storage key list is damaged');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const storage = storages.get(key);
    if (!storage) fail(source, `legacy checkpoint: storage "${key}" is not used by any tensor`);
    if (pos + 8 > bytes.length) fail(source, `legacy checkpoint: storage "${key}" missing (file truncated at ${bytes.length} bytes)`);
    const hi = view.getInt32(pos + 4, true);
    const count = hi * 2 ** 32 + view.getUint32(pos, true);
    pos += 8;
    const size = count * dtypeSize(storage.dtype);
    if (hi < 0 || hi >= 2 ** 20 || pos + size > bytes.length) {
      fail(source, `legacy checkpoint: storage "${key}" of ${count} elements runs past the end of the file (${bytes.length} bytes)`);
    }
    if (count < storage.numel) fail(source, `legacy checkpoint: storage "${key}" holds ${count} elements, ${storage.numel} expected`);
    if ((bytes.byteOffset + pos) % dtypeSize(storage.dtype) !== 0) budget.charge(size, `copying unaligned storage "${key}"`);
    storage.data = typedView(storage.dtype, bytes, pos, count);
    pos += size;
  }
  loader.materialise();
  return main.value;
}

function parseStoragePid(pid: unknown, source: string): { key: string; dtype: DType; count: number; view?: [unknown, number, number] } {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) fail(source, 'persistent id is not a torch storage reference');
  const [, type, key, , count, view] = pid;
  if (!(type instanceof PickleGlobal) || !/^torch(\.cuda)?$/.test(type.module) || !(type.name in STORAGE_DTYPES)) {
    fail(source, `unsupported storage type ${describeValue(type)}`);
  }
  if (typeof key !== 'string' && typeof key !== 'number') fail(source, 'storage key is not a string');
  if (typeof key === 'string' && key.length > 1000) fail(source, `storage key of ${key.length} characters is too long`);
  if (!isIndex(count)) fail(source, `storage "${key}": bad element count ${describeValue(count)}`);
  if (view != null && !(Array.isArray(view) && view.length === 3 && isIndex(view[1]) && isIndex(view[2]))) {
    fail(source, `storage "${key}": bad view metadata`);
  }
  return { key: String(key), dtype: STORAGE_DTYPES[type.name], count, view: view ?? undefined };
}

function isIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Builds tensors during unpickling and fills their data once every storage is available. */
class TensorLoader {
  private pending: PendingTensor[] = [];
  private numpyArrays = new WeakSet<object>();
  private depth = 0;

  constructor(
    private readonly source: string,
    private readonly budget: Budget,
  ) {}

  call = (g: PickleGlobal, args: unknown[]): unknown => {
    if (this.depth >= MAX_CALL_DEPTH) {
      fail(this.source, `calls of ${describeValue(g)} nest more than ${MAX_CALL_DEPTH} deep (_rebuild_from_type_v2 / copyreg.__newobj__ chains; no real checkpoint does this)`);
    }
    this.depth++;
    try {
      return this.callInner(g, args);
    } finally {
      this.depth--;
    }
  };

  private callInner(g: PickleGlobal, args: unknown[]): unknown {
    const source = this.source;
    const budget = this.budget;
    const name = `${g.module}.${g.name}`;
    switch (name) {
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2':
        return this.tensor(args[0], args[1], args[2], args[3]);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        if (!isTensorLike(args[0])) fail(source, `${name}: data is not a tensor`);
        return args[0];
      case 'torch._tensor._rebuild_from_type_v2':
      case 'torch._utils._rebuild_from_type': {
        const [func, , inner] = args;
        if (!(func instanceof PickleGlobal) || !Array.isArray(inner)) fail(source, `${name}: bad arguments`);
        return this.call(func, inner) ?? new PickleObject(func.module, func.name, inner);
      }
      case 'collections.OrderedDict':
      case 'builtins.dict':
      case '__builtin__.dict':
        return toMap(args[0], source, budget);
      case 'torch.Size':
      case 'builtins.list':
      case 'builtins.tuple':
        return args.length === 0 ? [] : toArray(args[0], source, budget);
      case 'builtins.set':
      case 'builtins.frozenset':
      case '__builtin__.set':
      case '__builtin__.frozenset':
        return toSet(args.length === 0 ? [] : args[0], source, budget);
      case 'builtins.bytearray':
      case 'builtins.bytes':
        if (args[0] instanceof Uint8Array) {
          budget.charge(args[0].length, name);
          return args[0].slice();
        }
        if (!Array.isArray(args[0])) return new Uint8Array(0);
        budget.charge(args[0].length, name);
        return Uint8Array.from(args[0], Number);
      case 'copyreg._reconstructor':
      case 'copy_reg._reconstructor': {
        const [cls] = args;
        if (!(cls instanceof PickleGlobal)) fail(source, `${name}: class is not a global`);
        budget.charge(8 * args.length, `copying the arguments of ${name}`);
        return new PickleObject(cls.module, cls.name, args.slice(1));
      }
      case 'copyreg.__newobj__':
      case 'copy_reg.__newobj__': {
        const cls = args[0];
        if (!(cls instanceof PickleGlobal)) fail(source, `${name}: class is not a global`);
        budget.charge(8 * args.length, `copying the arguments of ${name}`);
        const rest = args.slice(1);
        return this.call(cls, rest) ?? new PickleObject(cls.module, cls.name, rest);
      }
      case 'numpy.core.multiarray.scalar':
      case 'numpy._core.multiarray.scalar':
        return numpyScalar(args[0], args[1], source);
      case 'numpy.core.multiarray._reconstruct':
      case 'numpy._core.multiarray._reconstruct': {
        const array = {};
        this.numpyArrays.add(array);
        return array;
      }
    }
    if (g.module === 'torch._utils' && g.name.startsWith('_rebuild')) fail(source, `unsupported tensor kind ${describeValue(name)}`);
    return undefined;
  }

  build = (obj: unknown, state: unknown): boolean => {
    if (typeof obj !== 'object' || obj === null || !this.numpyArrays.has(obj)) return false;
    this.numpyArrays.delete(obj);
    Object.assign(obj, numpyArray(state, this.source, this.budget));
    return true;
  };

  private tensor(storage: unknown, offset: unknown, size: unknown, stride: unknown): RawTensor {
    const source = this.source;
    if (!(storage instanceof Storage)) fail(source, 'tensor: storage argument is not a storage reference');
    if (!isIndex(offset)) fail(source, `tensor: bad storage offset ${describeValue(offset)}`);
    if (!Array.isArray(size) || !size.every(isIndex)) fail(source, 'tensor: size is not a list of non-negative integers');
    if (!Array.isArray(stride) || stride.length !== size.length || !stride.every(isIndex)) {
      fail(source, `tensor: stride does not match size [${dims(size as number[])}]`);
    }
    const tensor: RawTensor = { dtype: storage.dtype, shape: size as number[], data: allocTyped(storage.dtype, 0) };
    this.pending.push({ tensor, storage, offset, stride: stride as number[] });
    return tensor;
  }

  /** Fills every tensor's data from its storage (after all storages are known). */
  materialise(): void {
    // Check every view and charge every copy first, so a file over the budget is refused before anything is copied.
    const fills = this.pending.map((p) => this.view(p));
    for (let i = 0; i < fills.length; i++) {
      const fill = fills[i];
      this.pending[i].tensor.data = typeof fill === 'function' ? fill() : fill;
    }
    this.pending = [];
  }

  /** The tensor's data when it is a view (or empty), else a function that copies it (already charged). */
  private view({ tensor, storage, offset, stride }: PendingTensor): TypedArray | (() => TypedArray) {
    const source = this.source;
    const base = storageData(storage, source);
    const { shape } = tensor;
    const n = numel(shape);
    if (n === 0) return allocTyped(tensor.dtype, 0);
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
    if (last >= base.length) {
      fail(source, `tensor of shape [${dims(shape)}], stride [${dims(stride)}], offset ${offset} runs past its storage of ${base.length} elements`);
    }
    if (isContiguous(shape, stride)) return base.subarray(offset, offset + n);
    if (n > Math.max(4 * base.length, MAX_EXPANDED)) {
      fail(source, `tensor of shape [${dims(shape)}] expands a storage of ${base.length} elements too far`);
    }
    this.budget.charge(n * dtypeSize(tensor.dtype), `materialising a strided ${tensor.dtype} tensor of shape [${dims(shape)}] (${n * dtypeSize(tensor.dtype)} bytes)`);
    return () => gather(base, shape, stride, offset, allocTyped(tensor.dtype, n));
  }
}

function storageData(storage: Storage, source: string): TypedArray {
  if (storage.root) {
    const root = storageData(storage.root, source);
    if (storage.offset + storage.numel > root.length) fail(source, `storage view "${storage.key}" runs past its root storage`);
    return root.subarray(storage.offset, storage.offset + storage.numel);
  }
  if (!storage.data) fail(source, `storage "${storage.key}" has no data`);
  return storage.data.length > storage.numel ? storage.data.subarray(0, storage.numel) : storage.data;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** Copies a strided view into row-major order. */
export function gather(base: TypedArray, shape: number[], stride: number[], offset: number, out: TypedArray): TypedArray {
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  const src = base as unknown as { [i: number]: number | bigint };
  const dst = out as unknown as { [i: number]: number | bigint };
  const innerSize = shape[rank - 1];
  const innerStride = stride[rank - 1];
  let at = offset;
  for (let o = 0; o < out.length; o += innerSize) {
    for (let j = 0, k = at; j < innerSize; j++, k += innerStride) dst[o + j] = src[k];
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      at += stride[d];
      if (index[d] < shape[d]) break;
      at -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

function isTensorLike(x: unknown): boolean {
  return typeof x === 'object' && x !== null && 'dtype' in x && 'shape' in x && 'data' in x;
}

function* iterate(x: unknown, source: string): Iterable<unknown> {
  if (Array.isArray(x) || x instanceof Set) yield* x;
  else if (x instanceof Map) yield* x.keys();
  else if (typeof x === 'string') yield* x;
  else fail(source, `cannot iterate over ${typeof x}`);
}

/** At most 16 dimensions of a shape or stride, for messages. */
function dims(a: number[]): string {
  return a.length <= 16 ? a.join(', ') : `${a.slice(0, 16).join(', ')}, ... (${a.length} dims)`;
}

/** Entries a rebuilt collection holds, charged at 8 bytes each (a pointer) to the file's budget. */
function sizeOf(x: unknown): number {
  if (Array.isArray(x) || typeof x === 'string') return x.length;
  if (x instanceof Map || x instanceof Set) return x.size;
  return 0;
}

function toArray(x: unknown, source: string, budget: Budget): unknown[] {
  budget.charge(8 * sizeOf(x), 'copying a list');
  const out: unknown[] = [];
  for (const v of iterate(x, source)) out.push(v);
  return out;
}

function toSet(x: unknown, source: string, budget: Budget): Set<unknown> {
  budget.charge(8 * sizeOf(x), 'building a set');
  const out = new Set<unknown>();
  for (const v of iterate(x, source)) checkedAdd(out, v, source);
  return out;
}

function toMap(x: unknown, source: string, budget: Budget): Map<unknown, unknown> {
  const out = new Map<unknown, unknown>();
  if (x === undefined) return out;
  budget.charge(16 * sizeOf(x), 'building a dict');
  if (x instanceof Map) {
    for (const [k, v] of x) checkedSet(out, k, v, source);
    return out;
  }
  for (const item of iterate(x, source)) {
    if (!Array.isArray(item) || item.length !== 2) fail(source, 'dict items are not pairs');
    checkedSet(out, item[0], item[1], source);
  }
  return out;
}

const NUMPY_DTYPES: Record<string, DType> = { f8: 'F64', f4: 'F32', f2: 'F16', i8: 'I64', i4: 'I32', i2: 'I16', i1: 'I8', u1: 'U8', b1: 'BOOL' };

/** The DType of a pickled `numpy.dtype` object, or null when unsupported. */
function numpyDType(d: unknown, source: string): DType | null {
  if (!(d instanceof PickleObject) || d.name !== 'dtype' || typeof d.args[0] !== 'string') fail(source, 'numpy: dtype is not a numpy.dtype');
  const dtype = NUMPY_DTYPES[d.args[0]];
  if (!dtype) return null;
  const order = Array.isArray(d.state) ? d.state[1] : '<';
  if (order === '>' && dtypeSize(dtype) > 1) fail(source, 'numpy: big-endian arrays are not supported');
  return dtype;
}

function numpyScalar(d: unknown, raw: unknown, source: string): unknown {
  const dtype = numpyDType(d, source);
  if (!(raw instanceof Uint8Array)) fail(source, 'numpy scalar: data is not bytes');
  if (!dtype) return new PickleObject('numpy', 'scalar', [d, raw]);
  if (raw.length !== dtypeSize(dtype)) fail(source, `numpy scalar: ${raw.length} bytes for ${dtype}`);
  const v = typedView(dtype, raw, 0, 1)[0];
  if (dtype === 'F16') return halfToNumber(v as number);
  if (dtype === 'BF16') return new Float32Array(new Uint32Array([(v as number) << 16]).buffer)[0];
  if (dtype === 'BOOL') return v !== 0;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  return v;
}

/** A pickled ndarray's state `(version, shape, dtype, is_fortran, rawdata)` as tensor fields. */
function numpyArray(state: unknown, source: string, budget: Budget): object {
  if (!Array.isArray(state) || state.length < 5) fail(source, 'numpy array: bad state');
  const [, shape, d, fortran, raw] = state;
  if (!Array.isArray(shape) || !shape.every(isIndex)) fail(source, 'numpy array: bad shape');
  const dtype = numpyDType(d, source);
  if (!dtype || !(raw instanceof Uint8Array)) return { numpyDtype: d, shape, items: raw };
  const n = numel(shape);
  if (raw.length !== n * dtypeSize(dtype)) fail(source, `numpy array: ${raw.length} bytes for ${n} ${dtype} elements`);
  if (raw.byteOffset % dtypeSize(dtype) !== 0) budget.charge(raw.length, 'copying an unaligned numpy array');
  let data = typedView(dtype, raw, 0, n);
  if (fortran && shape.length > 1) {
    budget.charge(raw.length, `reordering a Fortran-order numpy array of shape ${describeValue(shape)}`);
    const stride: number[] = [];
    let s = 1;
    for (const dim of shape) {
      stride.push(s);
      s *= dim;
    }
    data = gather(data, shape, stride, 0, allocTyped(dtype, n));
  }
  return { dtype, shape, data };
}
