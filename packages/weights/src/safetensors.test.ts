import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type RawTensor,
  WeightsFormatError,
  castTensor,
  convertTensor,
  readSafetensors,
  toFloat32,
  toInt32,
  writeSafetensors,
} from './index';
import { readSafetensorsFile, readSafetensorsHeader, writeSafetensorsFile } from './node';
import { fixturesDir } from '../../../tools/testing/fixtures';
import { fixtureBytes, fuzz } from './test-util';

const FILE = 'safetensors_dtypes.safetensors';
const spec = JSON.parse(readFileSync(join(fixturesDir(), 'safetensors_dtypes.json'), 'utf8'));

function expectedNumber(v: number | string | boolean): number {
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  if (v === 'nan') return NaN;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v as number;
}

/** Builds a safetensors file from a header object (no padding) and data bytes. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const text = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setUint32(0, text.length, true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

function rejects(bytes: Uint8Array, problem: RegExp): void {
  let error: unknown;
  try {
    readSafetensors(bytes, { source: 'bad.safetensors' });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(WeightsFormatError);
  expect((error as Error).message).toMatch(/^bad\.safetensors: /);
  expect((error as Error).message).toMatch(problem);
}

const tmp = mkdtempSync(join(tmpdir(), 'svg-weights-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('readSafetensors on the dtype fixture', () => {
  const bytes = fixtureBytes(FILE);
  const { tensors, metadata } = readSafetensors(bytes, { source: FILE });

  it('reads the metadata, including non-ASCII strings', () => {
    expect(metadata).toEqual(spec.metadata);
    expect(metadata.unicode).toBe('µ-✓');
  });

  it('reads every tensor with its dtype and shape', () => {
    expect([...tensors.keys()].sort()).toEqual(Object.keys(spec.tensors).sort());
    for (const [name, t] of Object.entries<any>(spec.tensors)) {
      expect(tensors.get(name)!.dtype, name).toBe(t.dtype);
      expect(tensors.get(name)!.shape, name).toEqual(t.shape);
    }
  });

  it('decodes every value exactly (specials, subnormals, -0, int64, bool)', () => {
    for (const [name, t] of Object.entries<any>(spec.tensors)) {
      const raw = tensors.get(name)!;
      if (t.dtype === 'I64') {
        expect([...(raw.data as BigInt64Array)], name).toEqual(t.values.map((v: number) => BigInt(v)));
        continue;
      }
      const f64 = t.dtype === 'F16' || t.dtype === 'BF16' ? Array.from(toFloat32(raw)) : Array.from(raw.data as Float64Array);
      const want = t.values.map(expectedNumber);
      expect(f64.length, name).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(Object.is(f64[i], want[i]), `${name}[${i}]: ${f64[i]} vs ${want[i]}`).toBe(true);
    }
    expect(tensors.get('bool')!.data).toBeInstanceOf(Uint8Array);
    expect(tensors.get('f16')!.data).toBeInstanceOf(Uint16Array);
  });

  it('returns zero-copy views into an aligned buffer', () => {
    for (const [name, t] of tensors) expect(t.data.buffer, name).toBe(bytes.buffer);
  });

  it('copies tensors whose offsets are misaligned in the given buffer', () => {
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const again = readSafetensors(shifted).tensors;
    expect(Array.from(again.get('f64')!.data as Float64Array)).toEqual(Array.from(tensors.get('f64')!.data as Float64Array));
    expect(again.get('f64')!.data.buffer).not.toBe(shifted.buffer);
    expect(again.get('u8')!.data.buffer).toBe(shifted.buffer);
  });

  it('reads only the requested names', () => {
    const some = readSafetensors(bytes, { names: ['f16', 'u8'] }).tensors;
    expect([...some.keys()].sort()).toEqual(['f16', 'u8']);
    const pred = readSafetensors(bytes, { names: (n) => n.startsWith('i') }).tensors;
    expect([...pred.keys()].sort()).toEqual(['i16', 'i32', 'i64', 'i8']);
  });

  it('converts F16/BF16 to F32 and I64 to I32 on request, range-checking int64', () => {
    const conv = readSafetensors(bytes, { convert: true, names: (n) => n !== 'i64' }).tensors;
    expect(conv.get('f16')!.dtype).toBe('F32');
    expect(conv.get('bf16')!.dtype).toBe('F32');
    expect(conv.get('f16')!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(conv.get('bf16')!.data as Float32Array).slice(0, 2)).toEqual([1, -2.5]);
    expect(() => readSafetensors(bytes, { convert: true, source: FILE })).toThrow(/tensor "i64": int64 value -1099511627776 at index 0 does not fit in int32/);
    const small: RawTensor = { dtype: 'I64', shape: [2], data: new BigInt64Array([-5n, 2147483647n]) };
    expect(convertTensor(small)).toEqual({ dtype: 'I32', shape: [2], data: new Int32Array([-5, 2147483647]) });
    expect(() => toInt32({ dtype: 'I64', shape: [1], data: new BigInt64Array([2147483648n]) }, 'x')).toThrow(WeightsFormatError);
  });
});

describe('writeSafetensors', () => {
  it('reproduces the fixture files byte for byte', () => {
    for (const file of [FILE, 'dit.weights.safetensors', 'lpips_vgg_lin.safetensors']) {
      const bytes = fixtureBytes(file);
      const { tensors, metadata } = readSafetensors(bytes);
      expect(Buffer.from(writeSafetensors(tensors, metadata)).equals(Buffer.from(bytes)), file).toBe(true);
    }
  });

  it('accepts a plain object like a Map and round-trips', () => {
    const a: RawTensor = { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
    const b: RawTensor = { dtype: 'I8', shape: [3], data: new Int8Array([-1, 0, 1]) };
    const fromObject = writeSafetensors({ b, a }, { note: 'x' });
    const fromMap = writeSafetensors(new Map([['a', a], ['b', b]]), { note: 'x' });
    expect(fromObject).toEqual(fromMap);
    expect((8 + new DataView(fromObject.buffer).getUint32(0, true)) % 8).toBe(0);
    const back = readSafetensors(fromObject);
    expect(back.metadata).toEqual({ note: 'x' });
    expect(back.tensors.get('a')).toEqual(a);
    expect(back.tensors.get('b')).toEqual(b);
  });

  it('rejects data that does not match the shape', () => {
    expect(() => writeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(/tensor "a"/);
  });
});

describe('malformed safetensors', () => {
  const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('accepts the crafted baseline', () => {
    expect(readSafetensors(craft(ok, f32(2))).tensors.get('a')!.shape).toEqual([2]);
  });
  it('truncated before the header length', () => rejects(new Uint8Array(5), /truncated: 5 bytes/));
  it('header length past the end', () => {
    const b = craft(ok, f32(2));
    new DataView(b.buffer).setUint32(0, 10_000, true);
    rejects(b, /header length 10000 runs past the end of the file/);
    new DataView(b.buffer).setUint32(4, 0xffffffff, true);
    rejects(b, /header length over 2\^53/);
  });
  it('truncated data', () => rejects(craft(ok, f32(2)).subarray(0, 8 + JSON.stringify(ok).length + 5), /run past the end of the data/));
  it('bad JSON', () => rejects(craft(null, f32(2), '{"a": {"dtype": "F32",'), /not valid JSON/));
  it('invalid UTF-8', () => rejects(craft(null, f32(2), '{"\xff"}').map((x, i, arr) => (i === 10 ? 0xff : x)), /UTF-8|JSON/));
  it('header not an object', () => rejects(craft([1, 2]), /not a JSON object/));
  it('unknown dtype', () => rejects(craft({ a: { dtype: 'F8', shape: [2], data_offsets: [0, 2] } }, f32(1)), /tensor "a": unknown dtype "F8"/));
  it('shape/byte-size mismatch', () =>
    rejects(craft({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)), /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/));
  it('bad shape', () => rejects(craft({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, f32(2)), /shape \[-1\] is not a list/));
  it('out-of-range offsets', () =>
    rejects(craft({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(2)), /data_offsets \[0, 16\] run past the end/));
  it('reversed offsets', () => rejects(craft({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, f32(2)), /data_offsets \[8,4\] are not/));
  it('overlapping offsets', () =>
    rejects(
      craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3)),
      /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/,
    ));
  it('non-string metadata', () => rejects(craft({ __metadata__: { n: 1 } }), /__metadata__\["n"\] is not a string/));

  it('fuzz: 3000 corruptions of the dtype fixture raise only WeightsFormatError', () => {
    const bytes = fixtureBytes(FILE);
    const rejected = fuzz(bytes, 3000, 1234, (b) => readSafetensors(b, { source: 'fuzz' }));
    expect(rejected).toBeGreaterThan(1000);
  });

  it('fuzz: corruptions of a real weights header raise only WeightsFormatError', () => {
    const bytes = fixtureBytes('lpips_vgg_lin.safetensors');
    fuzz(bytes, 1000, 99, (b) => readSafetensors(b, { source: 'fuzz' }), [0, 8 + 536]);
  });
});

describe('safetensors files (Node)', () => {
  it('writes atomically and reads back only the requested tensors', async () => {
    const path = join(tmp, 'two.safetensors');
    writeFileSync(path, 'old content');
    const big: RawTensor = { dtype: 'F32', shape: [200_000], data: new Float32Array(200_000).map((_, i) => i) };
    const small: RawTensor = { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc100, 0]) };
    await writeSafetensorsFile(path, { big, small }, { kind: 'test' });
    expect(readdirSync(tmp)).toEqual(['two.safetensors']);
    const all = await readSafetensorsFile(path);
    expect(all.metadata).toEqual({ kind: 'test' });
    expect(all.tensors.get('big')).toEqual(big);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(writeSafetensors({ big, small }, { kind: 'test' })))).toBe(true);
    const only = await readSafetensorsFile(path, { names: ['small'], convert: true });
    expect([...only.tensors.keys()]).toEqual(['small']);
    expect(Array.from(only.tensors.get('small')!.data as Float32Array)).toEqual([1, -2.5, 0]);
    const onlyRaw = await readSafetensorsFile(path, { names: (n) => n === 'small' });
    // Only the small tensor's bytes were read, into a buffer of their own.
    expect(onlyRaw.tensors.get('small')!.data.buffer.byteLength).toBe(6);
  });

  it('reads just the header: names, dtypes, shapes, byte ranges and metadata', async () => {
    const path = join(tmp, 'header.safetensors');
    const a: RawTensor = { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) };
    const b: RawTensor = { dtype: 'I32', shape: [5], data: new Int32Array(5) };
    await writeSafetensorsFile(path, { a, b }, { note: 'x' });
    const header = await readSafetensorsHeader(path);
    expect(header.metadata).toEqual({ note: 'x' });
    const byName = new Map(header.entries.map((e) => [e.name, e]));
    expect(byName.get('a')).toMatchObject({ dtype: 'F32', shape: [2, 3] });
    expect(byName.get('b')).toMatchObject({ dtype: 'I32', shape: [5] });
    expect(byName.get('a')!.end - byName.get('a')!.begin).toBe(24);
    expect(header.dataStart + Math.max(...header.entries.map((e) => e.end))).toBe(readFileSync(path).length);
    writeFileSync(path, new Uint8Array(3));
    await expect(readSafetensorsHeader(path)).rejects.toBeInstanceOf(WeightsFormatError);
  });

  it('names the file in errors', async () => {
    const path = join(tmp, 'broken.safetensors');
    writeFileSync(path, Buffer.from(craft({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32bytes(2))));
    await expect(readSafetensorsFile(path)).rejects.toThrow(new RegExp(`^${path}: tensor "a": data_offsets`));
    writeFileSync(path, new Uint8Array(3));
    await expect(readSafetensorsFile(path)).rejects.toBeInstanceOf(WeightsFormatError);
  });
});

function f32bytes(n: number): Uint8Array {
  return new Uint8Array(new Float32Array(n).buffer);
}

describe('castTensor (f16 / bf16 files)', () => {
  const values = Float32Array.from([0, -0, 1, -2.5, 65504, 70000, 1e-8, 6.1e-5, 0.1, 3.14159, Number.NaN]);
  const raw = { dtype: 'F32' as const, shape: [values.length], data: values };

  it('rounds to the nearest f16 and reads back as float32 through a safetensors round trip', () => {
    const half = castTensor(raw, 'F16');
    expect(half.dtype).toBe('F16');
    const bytes = writeSafetensors(new Map([['w', half]]));
    const back = readSafetensors(bytes, { convert: true }).tensors.get('w')!;
    expect(back.dtype).toBe('F32');
    const got = back.data as Float32Array;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (Number.isNaN(v)) expect(got[i]).toBeNaN();
      else if (Math.abs(v) > 65520) expect(got[i]).toBe(Infinity);
      else if (Math.abs(v) < 6e-8) expect(Math.abs(got[i])).toBe(0);
      else expect(Math.abs(got[i] - v)).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
    }
    expect(bytes.length).toBeLessThan(writeSafetensors(new Map([['w', raw]])).length);
  });

  it('casts bf16 and back to f32, and leaves integer tensors alone', () => {
    const bf = castTensor(raw, 'BF16');
    const back = toFloat32(bf);
    expect(back[2]).toBe(1);
    expect(Math.abs(back[9] - 3.14159)).toBeLessThan(3.14159 * 2 ** -8);
    expect(castTensor(bf, 'F32').dtype).toBe('F32');
    const ints = { dtype: 'I32' as const, shape: [2], data: Int32Array.from([1, 2]) };
    expect(castTensor(ints, 'F16')).toBe(ints);
  });
});
