/**
 * Shared test helper: locates the golden PyTorch fixtures and compares results against them.
 * Used by every package's tests (import from '../../../tools/testing/fixtures').
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RawTensor, readSafetensors, toFloat32 } from '@svg/weights';

/** A fixture's `{max_abs, rel_l2}` bounds. */
export interface Tolerance {
  max_abs: number;
  rel_l2: number;
}

/** The fixtures folder: env SVG_FIXTURES, else `<repo root>/../shared/fixtures`. */
export function fixturesDir(): string {
  if (process.env.SVG_FIXTURES) return resolve(process.env.SVG_FIXTURES);
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return resolve(repoRoot, '..', 'shared', 'fixtures');
}

const fileCache = new Map<string, Map<string, RawTensor>>();

/** All tensors of a safetensors file in the fixtures folder (cached per process; treat as read-only). */
export function loadSafetensorsFixture(file: string): Map<string, RawTensor> {
  let tensors = fileCache.get(file);
  if (!tensors) {
    const path = join(fixturesDir(), file);
    if (!existsSync(path)) throw new Error(`fixture file ${path} not found (set SVG_FIXTURES?)`);
    tensors = readSafetensors(new Uint8Array(readFileSync(path)), { source: path }).tensors;
    fileCache.set(file, tensors);
  }
  return tensors;
}

/** A loaded fixture case. */
export interface Fixture {
  /** The parsed `NAME.json` (config, tolerance, tolerance_per_output, shapes, ...). */
  json: any;
  /** Inputs, outputs and aux tensors of `NAME.io.safetensors` (empty when the case has no io file). */
  io: Map<string, RawTensor>;
  /** The module's state dict: `json.weights.file` keys under `json.weights.prefix`, with the prefix removed. */
  weights(): Map<string, RawTensor>;
  /** Bounds for one output: `tolerance_per_output[name]`, else the case's `tolerance`. */
  tolerance(output?: string): Tolerance;
}

/** Loads fixture case `caseName` (the `NAME` of `NAME.json`; may name a sub-folder, e.g. `eval/inception_score`, whose JSON's paths are relative to it). */
export function loadFixture(caseName: string): Fixture {
  const path = join(fixturesDir(), `${caseName}.json`);
  if (!existsSync(path)) throw new Error(`fixture ${path} not found (set SVG_FIXTURES?)`);
  const json = JSON.parse(readFileSync(path, 'utf8'));
  // Paths inside a case's JSON are relative to the case's own folder (e.g. `eval/` for 'eval/frechet_distance_d64').
  const folder = dirname(caseName);
  const local = (file: string) => (folder === '.' ? file : join(folder, file));
  const ioFile = typeof json.io === 'string' ? local(json.io) : existsSync(join(fixturesDir(), `${caseName}.io.safetensors`)) ? `${caseName}.io.safetensors` : null;
  const io = ioFile ? loadSafetensorsFixture(ioFile) : new Map<string, RawTensor>();
  return {
    json,
    io,
    weights() {
      if (!json.weights) throw new Error(`fixture ${caseName} has no weights`);
      const prefix: string = json.weights.prefix ?? '';
      const out = new Map<string, RawTensor>();
      for (const [k, v] of loadSafetensorsFixture(local(json.weights.file))) {
        if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
      }
      return out;
    },
    tolerance(output?: string) {
      return (output && json.tolerance_per_output?.[output]) || json.tolerance;
    },
  };
}

/** Result of {@link compareToFixture}. */
export interface Comparison {
  maxAbs: number;
  relL2: number;
  ok: boolean;
}

/**
 * max |actual - expected| and ||actual - expected||₂ / ||expected||₂ (float64 accumulation), and whether both are
 * within `tol`. NaN matches NaN and ±Inf matches the same infinity; any other NaN makes the result not ok.
 */
export function compareToFixture(actual: ArrayLike<number>, expected: RawTensor, tol: Tolerance): Comparison {
  const want = toFloat32(expected);
  if (actual.length !== want.length) {
    throw new Error(`length mismatch: actual has ${actual.length} values, expected [${expected.shape.join(', ')}] has ${want.length}`);
  }
  let maxAbs = 0;
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < want.length; i++) {
    const a = Number(actual[i]);
    const e = want[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Number.isFinite(e) && a === e) continue;
    const d = Math.abs(a - e);
    if (Number.isNaN(d)) {
      maxAbs = NaN;
      continue;
    }
    if (!Number.isNaN(maxAbs) && d > maxAbs) maxAbs = d;
    diff2 += d * d;
    if (Number.isFinite(e)) ref2 += e * e;
  }
  const relL2 = Math.sqrt(diff2) / (Math.sqrt(ref2) || 1);
  const ok = maxAbs <= tol.max_abs && relL2 <= tol.rel_l2;
  return { maxAbs, relL2, ok };
}

/** Throws a readable error (both measures and bounds) unless `actual` matches `expected` within `tol`. */
export function expectClose(name: string, actual: ArrayLike<number>, expected: RawTensor, tol: Tolerance): Comparison {
  const r = compareToFixture(actual, expected, tol);
  if (!r.ok) {
    throw new Error(
      `${name}: max_abs ${r.maxAbs.toExponential(3)} (limit ${tol.max_abs}), rel_l2 ${r.relL2.toExponential(3)} (limit ${tol.rel_l2}) over ${actual.length} values`,
    );
  }
  return r;
}
