import * as tf from '@tensorflow/tfjs-core';
import { type RawTensor, type StateDictLike, toFloat32, toStateDict } from '@svg/weights';
import type { Module, Parameter } from './module';

export interface LoadStateDictOptions {
  /** Every module parameter must be present and no key may be left over (default true). */
  strict?: boolean;
  /** Only keys starting with this prefix are used, with the prefix removed (e.g. `encoder.`). */
  prefix?: string;
  /** Renames a key of the state dict before matching (e.g. Hugging Face → official names). */
  rename?: (key: string) => string;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/** Raised when a state dict does not fit a module: lists every missing, unexpected and mis-shaped key at once. */
export class StateDictMismatchError extends Error {
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: string[],
  ) {
    const parts: string[] = [];
    const show = (label: string, keys: string[]) => {
      if (keys.length === 0) return;
      const head = keys.slice(0, 20).join(', ');
      parts.push(`${label} (${keys.length}): ${head}${keys.length > 20 ? ', ...' : ''}`);
    };
    show('shape mismatches', mismatched);
    show('missing keys', missing);
    show('unexpected keys', unexpected);
    super(`state dict does not match the model. ${parts.join('; ')}`);
    this.name = 'StateDictMismatchError';
  }
}

/**
 * Loads a PyTorch state dict (official key names and layouts) into `module`. Linear and conv weights are
 * converted to our layouts here, once. Shape mismatches always throw; missing/unexpected keys throw in strict mode.
 */
export function loadStateDict(module: Module, stateDict: StateDictLike, options: LoadStateDictOptions = {}): LoadStateDictResult {
  const { strict = true, prefix = '', rename = (k: string) => k } = options;
  const source = new Map<string, RawTensor>();
  for (const [key, raw] of toStateDict(stateDict)) {
    if (!key.startsWith(prefix)) continue;
    source.set(rename(key.slice(prefix.length)), raw);
  }
  const params = new Map(module.namedParameters());
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [name, p] of params) {
    const raw = source.get(name);
    if (!raw) missing.push(name);
    else if (!sameShape(raw.shape, p.torchShape)) mismatched.push(`${name}: expected [${p.torchShape}], got [${raw.shape}]`);
  }
  const unexpected = [...source.keys()].filter((k) => !params.has(k));
  if (mismatched.length > 0 || (strict && (missing.length > 0 || unexpected.length > 0))) {
    throw new StateDictMismatchError(missing, unexpected, mismatched);
  }
  for (const [name, p] of params) {
    const raw = source.get(name);
    if (raw) p.set(fromTorchLayout(p, raw));
  }
  return { missing, unexpected };
}

/** The module's weights as a PyTorch-layout state dict (float32), e.g. to save as safetensors. */
export async function stateDict(module: Module): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [name, p] of module.namedParameters()) {
    const t = tf.tidy(() => toTorchLayout(p));
    const data = (await t.data()) as Float32Array;
    t.dispose();
    out.set(name, { dtype: 'F32', shape: p.torchShape, data });
  }
  return out;
}

function sameShape(a: number[], b: number[]): boolean {
  // PyTorch stores 0-d scalars; a [1] parameter accepts them and vice versa.
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  if (a.length === 0 || b.length === 0) return size(a) === size(b);
  return tf.util.arraysEqual(a, b);
}

/**
 * A PyTorch-layout tensor (`[out, in]` linear, `[out, in, kh, kw]` conv weights) as a tensor in parameter `p`'s layout,
 * e.g. a weight or an optimiser moment read from a checkpoint. The caller checks `raw.shape` against `p.torchShape`.
 */
export function fromTorchLayout(p: Parameter, raw: RawTensor): tf.Tensor {
  const data = toFloat32(raw);
  return tf.tidy(() => {
    const t = tf.tensor(data, p.torchShape, 'float32');
    if (p.layout === 'linear') return tf.transpose(t, [1, 0]);
    if (p.layout === 'conv2d') return tf.transpose(t, [2, 3, 1, 0]);
    return t;
  });
}

/** `t` (shaped like parameter `p`, default its value) in PyTorch's layout: the inverse of {@link fromTorchLayout}. */
export function toTorchLayout(p: Parameter, t: tf.Tensor = p.value): tf.Tensor {
  if (p.layout === 'linear') return tf.transpose(t, [1, 0]);
  if (p.layout === 'conv2d') return tf.transpose(t, [3, 2, 0, 1]);
  return tf.clone(t);
}
