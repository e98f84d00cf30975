import { type DType, type RawTensor, type TypedArray, allocTyped, dtypeSize, halfToNumber, numel, typedView } from './dtypes';
import { fail } from './errors';
import { PickleGlobal, PickleObject, unpickle } from './pickle';
import { readSafetensors } from './safetensors';
import { readZipDirectory, zipEntryBytes } from './zip';

/** Options of {@link readTorchCheckpoint}. */
export interface ReadTorchOptions {
  /** Label used in error messages (e.g. the file name); default `"<checkpoint bytes>"`. */
  source?: string;
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
  return readTorchCheckpoint(bytes, { source });
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
  if (format === 'torch-zip') return readZipCheckpoint(bytes, source);
  if (format === 'torch-legacy') return readLegacyCheckpoint(bytes, source);
  if (format === 'torch-tar') fail(source, 'legacy tar checkpoints (torch < 0.4) are not supported; re-save with a newer torch');
  fail(source, 'not a torch checkpoint (neither a zip archive nor a pickle)');
}

function readZipCheckpoint(bytes: Uint8Array, source: string): unknown {
  const entries = readZipDirectory(bytes, source);
  const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n)) ?? (entries.has('data.pkl') ? 'data.pkl' : undefined);
  if (!pkl) fail(source, 'zip archive has no <name>/data.pkl: not a torch checkpoint');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && new TextDecoder().decode(zipEntryBytes(bytes, byteorder, source)).trim() === 'big') {
    fail(source, 'big-endian checkpoints are not supported');
  }
  const storages = new Map<string, Storage>();
  const loader = new TensorLoader(source);
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

function readLegacyCheckpoint(bytes: Uint8Array, source: string): unknown {
  const plain = (start: number) => unpickle(bytes, { source, start, call: () => undefined });
  const magic = plain(0);
  if (magic.value !== LEGACY_MAGIC) fail(source, 'legacy checkpoint: wrong magic number (not a torch file)');
  const protocol = plain(magic.end);
  if (protocol.value !== 1001) fail(source, `legacy checkpoint: unsupported protocol version ${String(protocol.value)}`);
  const sysInfo = plain(protocol.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) fail(source, 'big-endian checkpoints are not supported');

  const storages = new Map<string, Storage>();
  const loader = new TensorLoader(source);
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
    return new Storage(String(viewKey), root.dtype, size, root, offset);
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
    fail(source, `unsupported storage type ${String(type)}`);
  }
  if (typeof key !== 'string' && typeof key !== 'number') fail(source, 'storage key is not a string');
  if (!isIndex(count)) fail(source, `storage "${key}": bad element count ${String(count)}`);
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

  constructor(private readonly source: string) {}

  call = (g: PickleGlobal, args: unknown[]): unknown => {
    const source = this.source;
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
        return new Map(pairs(args[0], source));
      case 'torch.Size':
      case 'builtins.list':
      case 'builtins.tuple':
        return args.length === 0 ? [] : [...iterate(args[0], source)];
      case 'builtins.set':
      case 'builtins.frozenset':
      case '__builtin__.set':
      case '__builtin__.frozenset':
        return new Set(args.length === 0 ? [] : iterate(args[0], source));
      case 'builtins.bytearray':
      case 'builtins.bytes':
        return args[0] instanceof Uint8Array ? args[0].slice() : new Uint8Array(Array.isArray(args[0]) ? args[0].map(Number) : []);
      case 'copyreg._reconstructor':
      case 'copy_reg._reconstructor': {
        const [cls] = args;
        if (!(cls instanceof PickleGlobal)) fail(source, `${name}: class is not a global`);
        return new PickleObject(cls.module, cls.name, args.slice(1));
      }
      case 'copyreg.__newobj__':
      case 'copy_reg.__newobj__': {
        const [cls, ...rest] = args;
        if (!(cls instanceof PickleGlobal)) fail(source, `${name}: class is not a global`);
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
    if (g.module === 'torch._utils' && g.name.startsWith('_rebuild')) fail(source, `unsupported tensor kind ${name}`);
    return undefined;
  };

  build = (obj: unknown, state: unknown): boolean => {
    if (typeof obj !== 'object' || obj === null || !this.numpyArrays.has(obj)) return false;
    this.numpyArrays.delete(obj);
    Object.assign(obj, numpyArray(state, this.source));
    return true;
  };

  private tensor(storage: unknown, offset: unknown, size: unknown, stride: unknown): RawTensor {
    const source = this.source;
    if (!(storage instanceof Storage)) fail(source, 'tensor: storage argument is not a storage reference');
    if (!isIndex(offset)) fail(source, `tensor: bad storage offset ${String(offset)}`);
    if (!Array.isArray(size) || !size.every(isIndex)) fail(source, 'tensor: size is not a list of non-negative integers');
    if (!Array.isArray(stride) || stride.length !== size.length || !stride.every(isIndex)) {
      fail(source, `tensor: stride does not match size [${size.join(', ')}]`);
    }
    const tensor: RawTensor = { dtype: storage.dtype, shape: size as number[], data: allocTyped(storage.dtype, 0) };
    this.pending.push({ tensor, storage, offset, stride: stride as number[] });
    return tensor;
  }

  /** Fills every tensor's data from its storage (after all storages are known). */
  materialise(): void {
    for (const p of this.pending) p.tensor.data = this.view(p);
    this.pending = [];
  }

  private view({ tensor, storage, offset, stride }: PendingTensor): TypedArray {
    const source = this.source;
    const base = storageData(storage, source);
    const { shape } = tensor;
    const n = numel(shape);
    if (n === 0) return allocTyped(tensor.dtype, 0);
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
    if (last >= base.length) {
      fail(source, `tensor of shape [${shape.join(', ')}], stride [${stride.join(', ')}], offset ${offset} runs past its storage of ${base.length} elements`);
    }
    if (isContiguous(shape, stride)) return base.subarray(offset, offset + n);
    if (n > Math.max(4 * base.length, MAX_EXPANDED)) {
      fail(source, `tensor of shape [${shape.join(', ')}] expands a storage of ${base.length} elements too far`);
    }
    return gather(base, shape, stride, offset, allocTyped(tensor.dtype, n));
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

function pairs(x: unknown, source: string): [unknown, unknown][] {
  if (x === undefined) return [];
  if (x instanceof Map) return [...x];
  const out: [unknown, unknown][] = [];
  for (const item of iterate(x, source)) {
    if (!Array.isArray(item) || item.length !== 2) fail(source, 'dict items are not pairs');
    out.push([item[0], item[1]]);
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
function numpyArray(state: unknown, source: string): object {
  if (!Array.isArray(state) || state.length < 5) fail(source, 'numpy array: bad state');
  const [, shape, d, fortran, raw] = state;
  if (!Array.isArray(shape) || !shape.every(isIndex)) fail(source, 'numpy array: bad shape');
  const dtype = numpyDType(d, source);
  if (!dtype || !(raw instanceof Uint8Array)) return { numpyDtype: d, shape, items: raw };
  const n = numel(shape);
  if (raw.length !== n * dtypeSize(dtype)) fail(source, `numpy array: ${raw.length} bytes for ${n} ${dtype} elements`);
  let data = typedView(dtype, raw, 0, n);
  if (fortran && shape.length > 1) {
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
