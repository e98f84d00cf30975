import { type RawTensor, isDType } from './dtypes';
import { describeValue } from './pickle';

/** A PyTorch-style state dict: tensor name → tensor, as a `Map` or a plain object (accepted alike everywhere). */
export type StateDictLike = ReadonlyMap<string, RawTensor> | Readonly<Record<string, RawTensor>>;

/** Whether `x` looks like a {@link RawTensor} (`dtype`, `shape` array and typed-array `data`). */
export function isRawTensor(x: unknown): x is RawTensor {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Partial<RawTensor>;
  return isDType(t.dtype) && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/**
 * Normalises a state dict given as a `Map` or plain object to a `Map<string, RawTensor>` (the same `Map` when
 * it already is one). Throws a `TypeError` naming the first key whose value is not a tensor.
 */
export function toStateDict(x: StateDictLike): Map<string, RawTensor> {
  const entries: Iterable<[unknown, unknown]> = x instanceof Map ? x.entries() : Object.entries(x as object);
  for (const [key, value] of entries) {
    if (typeof key !== 'string') throw new TypeError(`state dict key ${describeValue(key)} is not a string`);
    if (!isRawTensor(value)) throw new TypeError(`state dict entry ${describeValue(key)} is not a tensor`);
  }
  return x instanceof Map ? (x as Map<string, RawTensor>) : new Map(Object.entries(x as Record<string, RawTensor>));
}

/** Whether `x` is a non-empty `Map` or plain object whose keys are strings and values all tensors. */
export function isStateDict(x: unknown): x is StateDictLike {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || ArrayBuffer.isView(x) || isRawTensor(x)) return false;
  if (!(x instanceof Map) && Object.getPrototypeOf(x) !== Object.prototype) return false;
  const entries: [unknown, unknown][] = x instanceof Map ? [...x.entries()] : Object.entries(x);
  return entries.length > 0 && entries.every(([k, v]) => typeof k === 'string' && isRawTensor(v));
}

function childOf(x: unknown, key: string): unknown {
  if (x instanceof Map) return x.get(key);
  if (typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype) {
    return (x as Record<string, unknown>)[key];
  }
  return undefined;
}

/**
 * Finds the model weights in a loaded checkpoint: `obj` itself when it is a state dict, else the first of the
 * `prefer` keys that holds one (searched recursively with the same preference, so `{model: {state_dict: ...}}`
 * works), else the only state dict among the top-level values. Accepts `Map`s (as {@link readTorchCheckpoint}
 * returns) and plain objects. Throws an `Error` listing the top-level keys when nothing is found.
 *
 * @example
 * const sd = findStateDict(readTorchCheckpoint(bytes)); // {ema, step} → ema; Lightning → state_dict
 */
export function findStateDict(obj: unknown, prefer: readonly string[] = ['ema', 'state_dict', 'model']): Map<string, RawTensor> {
  const found = search(obj, prefer, 0);
  if (found) return found;
  const keys = obj instanceof Map ? [...obj.keys()] : typeof obj === 'object' && obj !== null ? Object.keys(obj) : [];
  const shown = keys.slice(0, 20).map((k) => (typeof k === 'string' && k.length <= 60 ? k : describeValue(k, 60)));
  if (keys.length > 20) shown.push(`... (${keys.length} keys)`);
  throw new Error(`no state dict found in the checkpoint (looked for ${prefer.join(', ')}; top-level keys: ${shown.join(', ') || 'none'})`);
}

function search(obj: unknown, prefer: readonly string[], depth: number): Map<string, RawTensor> | undefined {
  if (isStateDict(obj)) return toStateDict(obj);
  if (depth > 4) return undefined;
  for (const key of prefer) {
    const hit = search(childOf(obj, key), prefer, depth + 1);
    if (hit) return hit;
  }
  const values: unknown[] = obj instanceof Map ? [...obj.values()] : typeof obj === 'object' && obj !== null && Object.getPrototypeOf(obj) === Object.prototype ? Object.values(obj) : [];
  const dicts = values.filter(isStateDict);
  return dicts.length === 1 ? toStateDict(dicts[0]) : undefined;
}

/**
 * Removes wrapper prefixes such as DataParallel's `module.`: a prefix is stripped only when every key starts
 * with it, and stripping repeats while one applies (so `module.model.x` → `x`). Returns a new `Map`.
 */
export function stripPrefix(sd: StateDictLike, prefixes: readonly string[] = ['module.', 'model.']): Map<string, RawTensor> {
  let entries = [...toStateDict(sd)];
  for (let changed = true; changed && entries.length > 0; ) {
    changed = false;
    for (const p of prefixes) {
      if (p && entries.every(([k]) => k.startsWith(p))) {
        entries = entries.map(([k, v]) => [k.slice(p.length), v]);
        changed = true;
      }
    }
  }
  return new Map(entries);
}
