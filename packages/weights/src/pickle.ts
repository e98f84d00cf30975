import { fail } from './errors';

/** A reference to a Python class or function (`module.name`), as a `GLOBAL` opcode names it. Never executed. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An inert stand-in for an instance of a Python class the reader does not model (Lightning callbacks,
 * `argparse.Namespace`, `torch.device`, ...): it records the class and everything pickle gave it, and runs nothing.
 */
export class PickleObject {
  /** State passed by `BUILD` (usually the instance `__dict__`, as a `Map`). */
  state: unknown = undefined;
  /** Items appended (list subclasses). */
  items: unknown[] = [];
  /** Items set (dict subclasses). */
  dictItems = new Map<unknown, unknown>();
  constructor(
    readonly module: string,
    readonly name: string,
    /** Arguments the class or function was called with. */
    readonly args: unknown[],
  ) {}
}

/** Turns a call of an allowed global into a value; return `undefined` to fall back to a {@link PickleObject}. */
export type GlobalCall = (global: PickleGlobal, args: unknown[], source: string) => unknown;

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  source: string;
  /** Byte offset where the pickle starts (several pickles may follow each other). */
  start?: number;
  /** Resolves persistent ids (torch storages). Without it, a persistent id is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Calls of globals (`REDUCE`, `NEWOBJ`, `INST`, `OBJ`). */
  call?: GlobalCall;
  /** Applies `BUILD` state to an object; return false to get the default handling. */
  build?: (obj: unknown, state: unknown) => boolean;
}

const attributes = new WeakMap<object, unknown>();

/**
 * The `BUILD` state the pickle attached to a `Map`, array or tensor, e.g. a state dict's `_metadata`
 * (`pickleState(sd)?.get('_metadata')`). `undefined` when there was none.
 */
export function pickleState(obj: object): any {
  return obj instanceof PickleObject ? obj.state : attributes.get(obj);
}

const BUILTIN_SAFE = new Set([
  'set', 'frozenset', 'slice', 'complex', 'bytearray', 'bytes', 'list', 'tuple', 'dict', 'int', 'float', 'str',
  'bool', 'range', 'object', 'NoneType', 'Ellipsis', 'NotImplemented',
]);
const DANGEROUS_MODULES = new Set([
  'os', 'posix', 'nt', 'subprocess', 'sys', 'shutil', 'socket', 'importlib', 'pickle', '_pickle', 'cPickle',
  'marshal', 'runpy', 'code', 'codeop', 'pty', 'webbrowser', 'ctypes', 'multiprocessing', 'signal', 'pdb',
  'timeit', 'commands', 'platform', 'asyncio', 'threading', '_thread', 'io', '_io', 'pathlib', 'tempfile', 'urllib',
  'http', 'ftplib', 'smtplib', 'telnetlib', 'xmlrpc', 'operator', '_operator', 'functools', 'types', 'inspect', 'gc',
  'ctypes', 'cffi', 'imp', 'zipimport', 'pkgutil', 'site', 'sysconfig', 'distutils', 'setuptools', 'pip', 'dill',
  'joblib', 'cloudpickle', 'bdb', 'trace', 'profile', 'cProfile', 'glob', 'fileinput', 'requests',
]);
const DANGEROUS_NAMES = new Set([
  'eval', 'exec', 'execfile', 'compile', 'system', 'popen', '__import__', 'getattr', 'setattr', 'delattr', 'open',
  'input', 'breakpoint', 'globals', 'locals', 'vars', 'runstring', 'load', 'loads', 'spawn', 'call', 'run',
  'check_output', 'check_call', 'apply', 'memmap', 'fromfile',
]);

/** Why a global is refused, or null when it is harmless to name (it is still never executed). */
export function dangerousGlobal(module: string, name: string): string | null {
  const root = module.split('.')[0];
  if (root === 'builtins' || root === '__builtin__' || root === '__builtins__') {
    return BUILTIN_SAFE.has(name) ? null : 'builtin function';
  }
  if (DANGEROUS_MODULES.has(root) || DANGEROUS_MODULES.has(module)) return `module ${module}`;
  // Protocol 4 resolves dotted names attribute by attribute (`load.__globals__...`), so check every part.
  const dunderOk = (module === 'copyreg' || module === 'copy_reg') && (name === '__newobj__' || name === '__newobj_ex__');
  if (name.split('.').some((p) => DANGEROUS_NAMES.has(p) || (p.startsWith('__') && !dunderOk))) return `function ${name}`;
  if (root === 'torch' && /^(torch\.(hub|jit|_C|ops|classes|distributed|package|utils\.cpp_extension|_dynamo|compiler|fx))/.test(module)) {
    return `module ${module}`;
  }
  if (root === 'numpy' && /^numpy\.(testing|distutils|f2py|lib\.npyio|ctypeslib)/.test(module)) return `module ${module}`;
  return null;
}

type Stack = unknown[];
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/**
 * A pickle virtual machine that executes nothing: protocols 0-5 (except out-of-band buffers and the extension
 * registry). Python values map to JS as: None → null, bool → boolean, int → number (bigint beyond 2^53),
 * float → number, str → string, bytes/bytearray → Uint8Array, list and tuple → array, dict → Map,
 * set/frozenset → Set; calls of globals go through `options.call` or become {@link PickleObject}s.
 * Every length is bounds-checked, so corrupted input raises WeightsFormatError and the run ends within one pass.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): { value: unknown; end: number } {
  return guardLimits(options.source, () => run(bytes, options));
}

/**
 * Runs `f`, turning the RangeErrors JavaScript raises at its own limits (call stack, array, string and Map sizes,
 * buffer allocation) into a {@link WeightsFormatError}, so no input ends in an engine error. Explicit limits with
 * clearer messages are checked before most of them are reached.
 */
export function guardLimits<T>(source: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError) fail(source, `input exceeds a limit of this reader (${e.message.slice(0, 200)})`);
    throw e;
  }
}

function run(bytes: Uint8Array, options: UnpickleOptions): { value: unknown; end: number } {
  const { source } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = options.start ?? 0;
  const stack: Stack = [];
  const marks: number[] = [];
  const memo = new Map<unknown, unknown>();

  const need = (n: number, what: string) => {
    if (n < 0 || pos + n > bytes.length) fail(source, `pickle: ${what} of ${n} bytes at ${pos} runs past the end (${bytes.length} bytes; truncated?)`);
  };
  const u8 = () => {
    need(1, 'opcode argument');
    return bytes[pos++];
  };
  const u16 = () => {
    need(2, 'uint16');
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const i32 = () => {
    need(4, 'int32');
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u32 = () => {
    need(4, 'uint32');
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8, 'uint64');
    const lo = view.getUint32(pos, true);
    const hi = view.getUint32(pos + 4, true);
    pos += 8;
    if (hi >= 2 ** 21) fail(source, `pickle: length over 2^53 at ${pos - 8}`);
    return hi * 2 ** 32 + lo;
  };
  const take = (n: number, what: string) => {
    need(n, what);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(source, `pickle: unterminated text argument at ${pos}`);
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) fail(source, `pickle: stack underflow at ${pos}`);
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) fail(source, `pickle: stack underflow at ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail(source, `pickle: no mark at ${pos}`);
    return stack.splice(m);
  };
  const global = (module: string, name: string) => {
    const why = dangerousGlobal(module, name);
    if (why) fail(source, `pickle: refusing global ${describeValue(new PickleGlobal(module, name))} (${why}; could run code)`);
    return new PickleGlobal(module, name);
  };
  const callGlobal = (callable: unknown, args: unknown) => {
    if (!(callable instanceof PickleGlobal)) fail(source, `pickle: cannot call a ${describe(callable)} at ${pos}`);
    if (!Array.isArray(args)) fail(source, `pickle: arguments of ${describeValue(callable)} are not a tuple`);
    const made = options.call?.(callable, args, source);
    return made === undefined ? new PickleObject(callable.module, callable.name, args) : made;
  };
  const setItem = (target: unknown, k: unknown, v: unknown) => {
    if (target instanceof Map) checkedSet(target, k, v, source);
    else if (target instanceof PickleObject) checkedSet(target.dictItems, k, v, source);
    else fail(source, `pickle: cannot set an item on a ${describe(target)}`);
  };
  const append = (target: unknown, values: unknown[]) => {
    if (Array.isArray(target)) for (const v of values) target.push(v);
    else if (target instanceof PickleObject) for (const v of values) target.items.push(v);
    else fail(source, `pickle: cannot append to a ${describe(target)}`);
  };
  const text = (b: Uint8Array) => utf8.decode(b);

  for (;;) {
    if (pos >= bytes.length) fail(source, `pickle: ended at byte ${pos} without a STOP opcode (truncated?)`);
    const op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail(source, `pickle: unsupported protocol ${v}`);
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: { // STOP
        const value = pop();
        return { value, end: pos };
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length > 0 && marks.length > 0 && marks[marks.length - 1] === stack.length) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: { // INT
        const s = line().trim();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else stack.push(parseIntText(s, source));
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4c: // LONG
        stack.push(parseIntText(line().trim().replace(/L$/, ''), source));
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8(), 'LONG1'), source));
        break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail(source, 'pickle: negative LONG4 length');
        stack.push(decodeLong(take(n, 'LONG4'), source));
        break;
      }
      case 0x46: { // FLOAT
        const s = line().trim();
        const v = Number(s === 'nan' ? NaN : s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s);
        if (Number.isNaN(v) && s !== 'nan') fail(source, `pickle: bad float "${s.slice(0, 40)}"`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8, 'BINFLOAT');
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x53: // STRING (repr of a Python 2 str)
        stack.push(unquote(line().trim(), source));
        break;
      case 0x54: { // BINSTRING
        const n = i32();
        stack.push(text(take(n, 'BINSTRING')));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(text(take(u8(), 'SHORT_BINSTRING')));
        break;
      case 0x56: // UNICODE (raw-unicode-escape)
        stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (m, a, b) => {
          const c = parseInt(a ?? b, 16);
          return c <= 0x10ffff ? String.fromCodePoint(c) : m;
        }));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(take(u32(), 'BINUNICODE')));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(take(u8(), 'SHORT_BINUNICODE')));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(take(u64(), 'BINUNICODE8')));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32(), 'BINBYTES').slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8(), 'SHORT_BINBYTES').slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64(), 'BINBYTES8').slice());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) fail(source, 'pickle: odd number of items for DICT');
        const m = new Map();
        for (let i = 0; i < items.length; i += 2) checkedSet(m, items[i], items[i + 1], source);
        stack.push(m);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail(source, 'pickle: odd number of items for SETITEMS');
        const target = top();
        for (let i = 0; i < items.length; i += 2) setItem(target, items[i], items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const target = top();
        if (!(target instanceof Set)) fail(source, `pickle: cannot add items to a ${describe(target)}`);
        for (const v of items) checkedAdd(target, v, source);
        break;
      }
      case 0x91: { // FROZENSET
        const set = new Set();
        for (const v of popMark()) checkedAdd(set, v, source);
        stack.push(set);
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(source, 'pickle: STACK_GLOBAL needs two strings');
        stack.push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(callGlobal(callable, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args));
        break;
      }
      case 0x69: { // INST
        const module = line();
        const name = line();
        const args = popMark();
        stack.push(callGlobal(global(module, name), args));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail(source, 'pickle: OBJ without a class');
        stack.push(callGlobal(items[0], items.slice(1)));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (options.build?.(obj, state)) break;
        if (obj instanceof PickleObject) obj.state = state;
        else if (typeof obj === 'object' && obj !== null) attributes.set(obj, state);
        else fail(source, `pickle: cannot set state on a ${describe(obj)}`);
        break;
      }
      case 0x70: // PUT
        checkedSet(memo, parseIndex(line(), source), top(), source);
        break;
      case 0x71: // BINPUT
        checkedSet(memo, u8(), top(), source);
        break;
      case 0x72: // LONG_BINPUT
        checkedSet(memo, u32(), top(), source);
        break;
      case 0x94: // MEMOIZE
        checkedSet(memo, memo.size, top(), source);
        break;
      case 0x67: // GET
        stack.push(memoGet(memo, parseIndex(line(), source), source));
        break;
      case 0x68: // BINGET
        stack.push(memoGet(memo, u8(), source));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(memo, u32(), source));
        break;
      case 0x50: { // PERSID
        const pid = line();
        if (!options.persistentLoad) fail(source, 'pickle: persistent id without a loader');
        stack.push(options.persistentLoad(pid));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail(source, 'pickle: persistent id without a loader');
        stack.push(options.persistentLoad(pid));
        break;
      }
      case 0x82:
      case 0x83:
      case 0x84:
        fail(source, 'pickle: extension registry opcodes (EXT1/2/4) are not supported');
      case 0x97:
      case 0x98:
        fail(source, 'pickle: out-of-band buffers are not supported');
      default:
        fail(source, `pickle: unknown opcode 0x${op.toString(16).padStart(2, '0')} at ${pos - 1}`);
    }
  }
}

/**
 * Most entries of a dict or set (V8's own limit for a `Map` or `Set` is 2^24; beyond it `set` throws a RangeError).
 */
export const MAX_COLLECTION_ENTRIES = 1 << 24;

/** `map.set(k, v)`, or a WeightsFormatError when the map would grow past {@link MAX_COLLECTION_ENTRIES}. */
export function checkedSet(map: Map<unknown, unknown>, k: unknown, v: unknown, source: string): void {
  if (map.size >= MAX_COLLECTION_ENTRIES && !map.has(k)) fail(source, `pickle: a dict grows past ${MAX_COLLECTION_ENTRIES} entries (2^24, the most this reader holds)`);
  map.set(k, v);
}

/** `set.add(v)`, or a WeightsFormatError when the set would grow past {@link MAX_COLLECTION_ENTRIES}. */
export function checkedAdd(set: Set<unknown>, v: unknown, source: string): void {
  if (set.size >= MAX_COLLECTION_ENTRIES && !set.has(v)) fail(source, `pickle: a set grows past ${MAX_COLLECTION_ENTRIES} entries (2^24, the most this reader holds)`);
  set.add(v);
}

function memoGet(memo: Map<unknown, unknown>, i: number, source: string): unknown {
  if (!memo.has(i)) fail(source, `pickle: memo entry ${i} is missing`);
  return memo.get(i);
}

function parseIndex(s: string, source: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) fail(source, `pickle: bad memo index "${s.slice(0, 20)}"`);
  return n;
}

/** Python ints larger than this never occur in checkpoints; refusing them keeps decoding linear-time. */
const MAX_LONG_BYTES = 1024;

function parseIntText(s: string, source: string): number | bigint {
  if (s.length > MAX_LONG_BYTES * 3) fail(source, `pickle: integer of ${s.length} digits is too large`);
  if (!/^[+-]?\d+$/.test(s)) fail(source, `pickle: bad integer "${s.slice(0, 40)}"`);
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

/** Little-endian two's complement integer of any length (LONG1/LONG4). */
function decodeLong(b: Uint8Array, source: string): number | bigint {
  if (b.length === 0) return 0;
  if (b.length > MAX_LONG_BYTES) fail(source, `pickle: integer of ${b.length} bytes is too large`);
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Decodes the Python repr of a byte string, as protocol 0's STRING opcode writes it. */
function unquote(s: string, source: string): string {
  const q = s[0];
  if (s.length < 2 || (q !== '"' && q !== "'") || s[s.length - 1] !== q) fail(source, 'pickle: STRING argument is not quoted');
  const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : escapes[e] ?? `\\${e}`));
}

function describe(x: unknown): string {
  if (x === null) return 'None';
  if (x instanceof PickleGlobal) return `global ${describeValue(x)}`;
  if (x instanceof PickleObject) return `${describeValue(x.module, 80)}.${describeValue(x.name, 80)} object`;
  if (x instanceof Map) return 'dict';
  if (Array.isArray(x)) return 'list/tuple';
  return typeof x;
}

/** Most entries of a collection {@link describeValue} shows. */
const DESCRIBE_ITEMS = 6;
/** Deepest nesting {@link describeValue} enters. */
const DESCRIBE_DEPTH = 3;

/**
 * A short, Python-like description of an unpickled value for error messages: at most `max` characters (default
 * 200), at most 6 entries per collection and 3 levels deep, so values that share children (a pickle can build a
 * DAG whose full text is exponential in the file size) or nest deeply print in bounded time and space.
 */
export function describeValue(x: unknown, max = 200): string {
  let out = '';
  const put = (t: string) => {
    if (out.length <= max) out += t.length > max ? t.slice(0, max + 1) : t;
  };
  const walk = (v: unknown, depth: number): void => {
    if (out.length > max) return;
    if (v === null || v === undefined) return put('None');
    if (typeof v === 'string') return put(JSON.stringify(v.length > max ? v.slice(0, max + 1) : v));
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return put(String(v));
    if (v instanceof PickleGlobal) return put(`${v.module.slice(0, max + 1)}.${v.name.slice(0, max + 1)}`);
    if (v instanceof Uint8Array) return put(`bytes[${v.length}]`);
    const seq = (open: string, close: string, items: Iterable<unknown>, size: number, pairs = false) => {
      if (depth >= DESCRIBE_DEPTH) return put(size ? `${open}...${close}` : `${open}${close}`);
      put(open);
      let i = 0;
      for (const item of items) {
        if (i > 0) put(', ');
        if (i === DESCRIBE_ITEMS || out.length > max) {
          put(`... (${size} items)`);
          break;
        }
        if (pairs) {
          const [k, val] = item as [unknown, unknown];
          walk(k, depth + 1);
          put(': ');
          walk(val, depth + 1);
        } else walk(item, depth + 1);
        i++;
      }
      put(close);
    };
    if (Array.isArray(v)) return seq('(', ')', v, v.length);
    if (v instanceof Map) return seq('{', '}', v, v.size, true);
    if (v instanceof Set) return seq('{', '}', v, v.size);
    if (v instanceof PickleObject) {
      put(`${v.module.slice(0, max + 1)}.${v.name.slice(0, max + 1)}`);
      return seq('(', ')', v.args, v.args.length);
    }
    if (typeof v === 'object' && 'dtype' in v && 'shape' in v) {
      const shape = (v as { shape: unknown }).shape;
      put(`tensor ${String((v as { dtype: unknown }).dtype).slice(0, 20)} `);
      return walk(shape, depth + 1);
    }
    put(`<${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}>`);
  };
  walk(x, 0);
  return out.length > max ? `${out.slice(0, max - 3)}...` : out;
}
