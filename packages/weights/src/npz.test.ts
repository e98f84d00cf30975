import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../../tools/testing/fixtures';
import { type RawTensor, WeightsFormatError, crc32, halfToNumber, npzInfo, readNpy, readNpz } from './index';
import { npzFileInfo, openNpzArray, readNpzFile } from './node';
import { fsum, makeZip as makeZipNoCrc } from './test-util';
import { readZipDirectory, readZipEntry } from './zip';

const NPZ_DIR = join(fixturesDir(), 'eval');
const spec = JSON.parse(readFileSync(join(NPZ_DIR, 'npz_reader.json'), 'utf8')) as {
  files: Record<string, { bytes: number; members: Member[]; arrays: Record<string, ArraySpec> }>;
};
interface Member {
  name: string;
  compress_type: 'stored' | 'deflated';
  crc32: number;
  compress_size: number;
  file_size: number;
  local_data_offset: number;
  npy_version: [number, number];
  npy_data_offset: number;
}
interface ArraySpec {
  dtype: string;
  shape: number[];
  fortran_order: boolean;
  sum: number;
  first4: (number | boolean)[];
  last: (number | boolean)[];
  sha256_c_order_le: string;
  adm_reader?: { batch_size: number; batch_shapes: number[][]; batch_dtype: string | null };
}

const FILES = Object.keys(spec.files);
const path = (file: string) => join(NPZ_DIR, file);
const bytesOf = (file: string) => new Uint8Array(readFileSync(path(file)));

const tmp = mkdtempSync(join(tmpdir(), 'svg-npz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The dtype this reader returns for a numpy descr. */
const EXPECTED_DTYPE: Record<string, string> = {
  '|u1': 'U8',
  '<i8': 'I64',
  '<i4': 'I32',
  '<f2': 'F16',
  '<f4': 'F32',
  '<f8': 'F64',
  '>f8': 'F64',
  '|b1': 'BOOL',
  '<u2': 'I32',
};

/** The values in the file's dtype width, little-endian, C order: what the fixture's sha256 covers. */
function fileWidthBytes(t: RawTensor, descr: string): Uint8Array {
  if (descr === '<u2') return new Uint8Array(Uint16Array.from(t.data as Int32Array).buffer);
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function values(t: RawTensor): (number | boolean)[] {
  const out: (number | boolean)[] = [];
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    if (t.dtype === 'F16') out.push(halfToNumber(v as number));
    else if (t.dtype === 'BOOL') out.push(v === 1);
    else out.push(Number(v));
  }
  return out;
}

function expectArray(t: RawTensor, a: ArraySpec, label: string): void {
  expect(t.dtype, label).toBe(EXPECTED_DTYPE[a.dtype]);
  expect(t.shape, label).toEqual(a.shape);
  expect(t.data.length, label).toBe(a.shape.reduce((x, y) => x * y, 1));
  const sha = createHash('sha256').update(fileWidthBytes(t, a.dtype)).digest('hex');
  expect(sha, `${label} sha256`).toBe(a.sha256_c_order_le);
  const v = values(t);
  expect(v.slice(0, 4), label).toEqual(a.first4);
  expect(v.slice(-1), label).toEqual(a.last);
  if (t.dtype === 'I64') expect((t.data as BigInt64Array).reduce((x, y) => x + y, 0n), label).toBe(BigInt(a.sum));
  else if (t.dtype === 'F64' || t.dtype === 'F32' || t.dtype === 'F16') expect(fsum(v as number[]), label).toBe(a.sum);
  else expect(v.reduce<number>((x, y) => x + Number(y), 0), label).toBe(a.sum);
}

function concatRows(parts: RawTensor[]): { shape: number[]; bytes: Uint8Array } {
  const total = parts.reduce((n, p) => n + p.data.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength), at);
    at += p.data.byteLength;
  }
  return { shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...(parts[0]?.shape.slice(1) ?? [])], bytes };
}

const asBytes = (t: RawTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

async function rejects(p: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<WeightsFormatError> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  expect(error, `expected a WeightsFormatError matching ${pattern}`).toBeInstanceOf(WeightsFormatError);
  expect((error as Error).message).toMatch(pattern);
  expect((error as Error).message).not.toContain('\n');
  return error as WeightsFormatError;
}

/** A .npy file with the given header dict text (padded as numpy does) and data. */
function makeNpy(dict: string, data: Uint8Array, version: 1 | 2 | 3 = 1): Uint8Array {
  const enc = new TextEncoder();
  const prefix = version === 1 ? 10 : 12;
  let text = dict;
  const total = Math.ceil((prefix + enc.encode(text).length + 1) / 64) * 64;
  text = text + ' '.repeat(total - prefix - enc.encode(text).length - 1) + '\n';
  const header = enc.encode(text);
  const out = new Uint8Array(prefix + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) new DataView(out.buffer).setUint16(8, header.length, true);
  else new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, prefix);
  out.set(data, prefix + header.length);
  return out;
}

/** A stored (uncompressed) zip of the given members with their CRC-32s, as `np.savez` writes (no zip64 extra). */
function makeZip(members: [string, Uint8Array][]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let at = 0;
  for (const [name, data] of members) {
    const n = enc.encode(name);
    const local = new Uint8Array(30 + n.length);
    const lv = new DataView(local.buffer);
    const crc = crc32(data);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    const c = new Uint8Array(46 + n.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, at, true);
    c.set(n, 46);
    central.push(c);
    parts.push(local, data);
    at += local.length + data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, members.length, true);
  ev.setUint16(10, members.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, at, true);
  const all = [...parts, ...central, eocd];
  const out = new Uint8Array(all.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of all) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `bytes` with the first occurrence of `from` replaced by `to` (same length). */
function patch(bytes: Uint8Array, from: string, to: string): Uint8Array {
  expect(to.length).toBe(from.length);
  const text = Buffer.from(bytes).toString('latin1');
  const at = text.indexOf(from);
  expect(at, `"${from}" not found`).toBeGreaterThanOrEqual(0);
  const out = bytes.slice();
  out.set(Buffer.from(to, 'latin1'), at);
  return out;
}

function writeTmp(name: string, bytes: Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, bytes);
  return p;
}

describe('crc32', () => {
  it('matches the standard check value and is incremental', () => {
    const data = new TextEncoder().encode('123456789');
    expect(crc32(data)).toBe(0xcbf43926);
    expect(crc32(data.subarray(5), crc32(data.subarray(0, 5)))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe.each(FILES)('%s', (file) => {
  const f = spec.files[file];
  const bytes = bytesOf(file);

  it('has the fixture size, zip members, offsets and CRCs', async () => {
    expect(bytes.length).toBe(f.bytes);
    const entries = [...readZipDirectory(bytes, file).values()];
    expect(entries.map((e) => e.name)).toEqual(f.members.map((m) => m.name));
    for (const [i, m] of f.members.entries()) {
      const e = entries[i];
      expect(e.method, m.name).toBe(m.compress_type === 'stored' ? 0 : 8);
      expect(e.offset, m.name).toBe(m.local_data_offset);
      expect([e.size, e.uncompressedSize, e.crc32], m.name).toEqual([m.compress_size, m.file_size, m.crc32]);
      const member = await readZipEntry(bytes, e, file);
      expect(member.length).toBe(m.file_size);
      expect(crc32(member)).toBe(m.crc32);
    }
  });

  it('npzInfo lists every array from the headers alone', async () => {
    const info = await npzInfo(bytes, { source: file });
    expect(info.map((m) => m.member)).toEqual(f.members.map((m) => m.name));
    for (const [i, m] of f.members.entries()) {
      const a = f.arrays[m.name.replace(/\.npy$/, '')];
      const got = info[i];
      expect(got.name).toBe(m.name.replace(/\.npy$/, ''));
      expect(got.compressed).toBe(m.compress_type === 'deflated');
      expect([got.compressedSize, got.size]).toEqual([m.compress_size, m.file_size]);
      expect(got.version).toEqual(m.npy_version);
      expect(got.dataOffset).toBe(m.npy_data_offset);
      expect([got.descr, got.dtype, got.shape, got.fortranOrder]).toEqual([a.dtype, EXPECTED_DTYPE[a.dtype], a.shape, a.fortran_order]);
    }
    expect(await npzFileInfo(path(file))).toEqual(info);
  });

  it('readNpz and readNpzFile return every array exactly', async () => {
    const arrays = await readNpz(bytes, { source: file });
    expect([...arrays.keys()]).toEqual(f.members.map((m) => m.name.replace(/\.npy$/, '')));
    for (const [name, a] of Object.entries(f.arrays)) expectArray(arrays.get(name)!, a, `${file} ${name}`);
    const fromFile = await readNpzFile(path(file));
    expect([...fromFile.keys()]).toEqual([...arrays.keys()]);
    for (const [name, a] of Object.entries(f.arrays)) expectArray(fromFile.get(name)!, a, `${file} ${name} (file)`);
  });

  it('reads selected arrays only, by key, member name or predicate', async () => {
    const [first, second] = Object.keys(f.arrays);
    const some = await readNpz(bytes, { names: [second, `${first}.npy`] });
    expect([...some.keys()].sort()).toEqual([first, second].sort());
    const one = await readNpzFile(path(file), { names: (n) => n === first });
    expect([...one.keys()]).toEqual([first]);
    expectArray(one.get(first)!, f.arrays[first], first);
  });

  const streamable = Object.entries(f.arrays).filter(([, a]) => a.shape.length > 0);
  it.each(streamable)('streams %s in ADM batches and in uneven row runs', async (name, a) => {
    const whole = (await readNpz(bytes, { names: [name] })).get(name)!;
    const reader = await openNpzArray(path(file), name);
    try {
      expect([reader.dtype, reader.shape, reader.rows]).toEqual([EXPECTED_DTYPE[a.dtype], a.shape, a.shape[0]]);
      // guided-diffusion's open_npz_array(path, name).read_batches(4)
      const batches: RawTensor[] = [];
      for await (const b of reader.batches(a.adm_reader!.batch_size)) batches.push(b);
      expect(batches.map((b) => b.shape)).toEqual(a.adm_reader!.batch_shapes);
      if (batches.length > 0) expect(concatRows(batches).bytes).toEqual(asBytes(whole));
      // uneven runs, in order: 1, 2, 3, 1, 2, 3, ...
      const runs: RawTensor[] = [];
      for (let start = 0, k = 0; start < reader.rows; k++) {
        const count = Math.min(1 + (k % 3), reader.rows - start);
        runs.push(await reader.readRows(start, count));
        start += count;
      }
      if (runs.length > 0) {
        const joined = concatRows(runs);
        expect(joined.shape).toEqual(a.shape);
        expect(joined.bytes).toEqual(asBytes(whole));
      }
      // backwards and repeated reads (deflated members restart their stream)
      if (reader.rows >= 3) {
        const last = await reader.readRows(reader.rows - 2, 2);
        const firstTwo = await reader.readRows(0, 2);
        const n = asBytes(whole).length / reader.rows;
        expect(asBytes(last)).toEqual(asBytes(whole).subarray((reader.rows - 2) * n));
        expect(asBytes(firstTwo)).toEqual(asBytes(whole).subarray(0, 2 * n));
      }
      expect(await reader.readRows(0, 0)).toMatchObject({ shape: [0, ...a.shape.slice(1)] });
      expect(asBytes(await reader.readAll())).toEqual(asBytes(whole));
      await expect(reader.readRows(reader.rows, 1)).rejects.toThrow(RangeError);
    } finally {
      await reader.close();
    }
  });
});

describe('edge cases', () => {
  it('0-d arrays: readAll gives the scalar, rows are refused', async () => {
    const reader = await openNpzArray(path('npz/edge_cases.npz'), 'scalar_i32.npy');
    try {
      const t = await reader.readAll();
      expect([t.dtype, t.shape, [...t.data]]).toEqual(['I32', [], [-7]]);
      await expect(reader.readRows(0, 1)).rejects.toThrow(RangeError);
    } finally {
      await reader.close();
    }
  });

  it('reads .npy versions 2.0 and 3.0, big-endian and widened dtypes, and Fortran order in 3-d', () => {
    const le = new Uint8Array(new Int32Array([1, -2, 3]).buffer);
    for (const version of [1, 2, 3] as const) {
      const t = readNpy(makeNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", le, version));
      expect([t.dtype, t.shape, [...t.data]]).toEqual(['I32', [3], [1, -2, 3]]);
    }
    const be = readNpy(makeNpy("{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", new Uint8Array([0, 0, 0, 1, 255, 255, 255, 254, 0, 0, 0, 3])));
    expect([...be.data]).toEqual([1, -2, 3]);
    const u2be = readNpy(makeNpy("{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }", new Uint8Array([0xff, 0xfe, 0, 1])));
    expect([u2be.dtype, [...u2be.data]]).toEqual(['I32', [65534, 1]]);
    const u4 = readNpy(makeNpy("{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array([255, 255, 255, 255])));
    expect([u4.dtype, [...u4.data]]).toEqual(['I64', [4294967295n]]);
    const bool = readNpy(makeNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", new Uint8Array([0, 2, 1])));
    expect([bool.dtype, [...bool.data]]).toEqual(['BOOL', [0, 1, 1]]);
    // Fortran [2, 3, 4]: element (i, j, k) stored at i + 2j + 6k; value 100i + 10j + k.
    const f = new Float32Array(24);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) f[i + 2 * j + 6 * k] = 100 * i + 10 * j + k;
    const t = readNpy(makeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", new Uint8Array(f.buffer)));
    const c: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) c.push(100 * i + 10 * j + k);
    expect([t.shape, [...t.data]]).toEqual([[2, 3, 4], c]);
    // a header with keys in another order and a 1-tuple shape without trailing comma space
    const odd = readNpy(makeNpy('{"shape": (2,), "fortran_order": False, "descr": "<f8"}', new Uint8Array(16)));
    expect([odd.dtype, odd.shape]).toEqual(['F64', [2]]);
  });

  it('reads zip64 archives (saturated directory fields, zip64 records) in memory and streamed', async () => {
    const data = new Uint8Array(new Float64Array([1.5, -2, 3, 4, 5, 6]).buffer);
    const npy = makeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", data);
    const zip = makeZipNoCrc([['meta.txt', new TextEncoder().encode('not an array')], ['x.npy', npy]], true);
    expect(readZipDirectory(zip, 'z').get('x.npy')!.size).toBe(npy.length);
    const arrays = await readNpz(zip, { checkCrc: false }); // this helper leaves CRCs zero
    expect([...arrays.keys()]).toEqual(['x']);
    expect([...arrays.get('x')!.data]).toEqual([1.5, -2, 3, 4, 5, 6]);
    await rejects(readNpz(zip), /CRC-32 mismatch in "x\.npy"/);
    const reader = await openNpzArray(writeTmp('z64.npz', zip), 'x', { checkCrc: false });
    try {
      const rows = [];
      for await (const b of reader.batches(2)) rows.push(b);
      expect(rows.map((r) => r.shape)).toEqual([[2, 2], [1, 2]]);
      expect([...rows[1].data]).toEqual([5, 6]);
    } finally {
      await reader.close();
    }
  });

  it('streams a Fortran-order array (read whole, as ADM does)', async () => {
    const whole = (await readNpzFile(path('npz/edge_cases.npz'), { names: ['fortran_f32'] })).get('fortran_f32')!;
    const reader = await openNpzArray(path('npz/edge_cases.npz'), 'fortran_f32');
    try {
      const parts = [await reader.readRows(0, 2), await reader.readRows(2, 1)];
      expect(concatRows(parts).bytes).toEqual(asBytes(whole));
    } finally {
      await reader.close();
    }
  });
});

describe('malformed input throws WeightsFormatError', () => {
  const ref = bytesOf('npz/ref_batch.npz');
  const edge = bytesOf('npz/edge_cases.npz');
  const compressed = bytesOf('npz/sample_batch_compressed.npz');

  it('not a zip, truncated archives', async () => {
    await rejects(readNpz(new TextEncoder().encode('definitely not a zip file, just text'), { source: 'x.npz' }), /^x\.npz: zip: end of central directory not found \(truncated or not a zip file\)$/);
    await rejects(readNpz(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", new Uint8Array(0))), /not a zip file/);
    for (const n of [0, 100, ref.length >> 1, ref.length - 1]) await rejects(readNpz(ref.subarray(0, n), { source: 'ref.npz' }), /^ref\.npz: zip: /);
    await rejects(readNpzFile(writeTmp('trunc.npz', ref.subarray(0, ref.length - 30))), /trunc\.npz: zip: /);
    await rejects(npzFileInfo(writeTmp('empty.npz', new Uint8Array(0))), /end of central directory not found/);
  });

  it('a missing member names what is there', async () => {
    await rejects(
      readNpz(ref, { names: ['mu', 'nope'], source: 'ref.npz' }),
      /^ref\.npz: npz: missing member "nope\.npy" \(members: "mu\.npy", "sigma\.npy", "mu_s\.npy", "sigma_s\.npy", "arr_0\.npy"\)$/,
    );
    await rejects(openNpzArray(path('npz/ref_batch.npz'), 'arr_1'), /missing member "arr_1\.npy"/);
  });

  it('unsupported dtypes, object arrays, bad headers and versions', async () => {
    const c8 = patch(edge, "'descr': '<f2'", "'descr': '<c8'");
    await rejects(npzInfo(c8, { source: 'e.npz' }), /^e\.npz: "f16\.npy": npy: unsupported dtype '<c8': complex dtypes are not supported$/);
    await rejects(readNpz(c8, { checkCrc: false }), /unsupported dtype '<c8'/);
    await rejects(readNpz(c8), /CRC-32 mismatch in "f16\.npy"/);
    const obj = patch(edge, "'descr': '|b1', ", "'descr': '|O',  ");
    await rejects(npzInfo(obj), /unsupported dtype '\|O': object arrays hold pickled Python objects/);
    await rejects(() => readNpy(makeNpy("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), 'u.npy'), /^u\.npy: npy: unsupported dtype '<u8' \(uint64/);
    await rejects(() => readNpy(makeNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4))), /structured dtype/);
    await rejects(npzInfo(patch(edge, "{'descr': '<f2'", "x'descr': '<f2'")), /"f16\.npy": npy: header is not a Python literal/);
    await rejects(npzInfo(patch(edge, "'fortran_order'", "'fortran_ordex'")), /header keys are/);
    await rejects(npzInfo(patch(edge, "'shape': (4,), }", "'shape': (-4,),}")), /not a tuple of non-negative integers/);
    await rejects(() => readNpy(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 4, 0, 0, 0, 0, 0])), /unsupported \.npy format version 4\.0/);
    await rejects(() => readNpy(new TextEncoder().encode('PK not npy at all')), /magic string/);
    const long = new Uint8Array(12 + 20000);
    long.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
    new DataView(long.buffer).setUint32(8, 20000, true);
    await rejects(() => readNpy(long, 'long.npy'), /^long\.npy: npy: header of 20000 bytes is too long \(limit 10000/);
    await rejects(() => readNpy(makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(16)).subarray(0, 40)), /^<npy bytes>: npy: header needs 128 bytes, only 40 present \(truncated\)$/);
  });

  it('truncated and mismatched data', async () => {
    const npy = makeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(32));
    await rejects(() => readNpy(npy.subarray(0, npy.length - 1), 'a.npy'), /^a\.npy: npy: truncated data: 31 data bytes, shape \(4\) of '<f8' needs 32$/);
    const extra = new Uint8Array(npy.length + 8);
    extra.set(npy);
    await rejects(() => readNpy(extra), /size mismatch: 40 data bytes/);
    await rejects(npzInfo(patch(edge, "'shape': (4,), }", "'shape': (5,), }")), /"big_endian_f64\.npy": npy: truncated data: 32 data bytes, shape \(5\) of '>f8' needs 40$/);
    await rejects(readNpz(patch(edge, "'shape': (4,), }", "'shape': (3,), }"), { checkCrc: false }), /size mismatch/);
    // a member whose .npy is cut short inside a valid archive
    const short = makeZip([['a.npy', npy.subarray(0, npy.length - 26)]]);
    await rejects(readNpz(short, { source: 's.npz' }), /^s\.npz: "a\.npy": npy: truncated data: 6 data bytes/);
    await rejects(openNpzArray(writeTmp('short.npz', short), 'a'), /truncated data/);
  });

  it('corrupt data: CRC-32 of stored members, deflate errors of compressed ones', async () => {
    const bad = ref.slice();
    bad[66341 + 128 + 1000] ^= 0x40; // inside arr_0's pixels
    await rejects(readNpz(bad, { names: ['arr_0'], source: 'r.npz' }), /^r\.npz: zip: CRC-32 mismatch in "arr_0\.npy"/);
    expect((await readNpz(bad, { names: ['arr_0'], checkCrc: false })).get('arr_0')!.shape).toEqual([6, 64, 64, 3]);
    const file = writeTmp('bad.npz', bad);
    await rejects(readNpzFile(file, { names: ['arr_0'] }), /CRC-32 mismatch in "arr_0\.npy"/);
    const reader = await openNpzArray(file, 'arr_0');
    try {
      await rejects((async () => {
        for await (const _ of reader.batches(4));
      })(), /CRC-32 mismatch in "arr_0\.npy"/);
    } finally {
      await reader.close();
    }
    const entry = readZipDirectory(compressed, 'c').get('arr_0.npy')!;
    for (const at of [10, entry.size >> 1, entry.size - 4]) {
      const c = compressed.slice();
      for (let k = 0; k < 3; k++) c[entry.offset + at + k] ^= 0xa5;
      await rejects(readNpz(c, { source: 'c.npz' }), /^c\.npz: zip: /);
      const streamAll = async () => {
        const r = await openNpzArray(writeTmp(`c${at}.npz`, c), 'arr_0');
        try {
          for await (const _ of r.batches(2));
        } finally {
          await r.close();
        }
      };
      await rejects(streamAll(), /zip: /);
    }
  });

  it('random corruptions only ever raise WeightsFormatError', async () => {
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let rejected = 0;
    for (const src of [edge, compressed]) {
      for (let i = 0; i < 150; i++) {
        const b = rand() < 0.2 ? src.slice(0, Math.floor(rand() * src.length)) : src.slice();
        if (b.length === src.length) for (let k = 0; k < 3; k++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
        try {
          await readNpz(b);
          await npzInfo(b);
        } catch (e) {
          if (!(e instanceof WeightsFormatError)) throw new Error(`case ${i}: ${(e as Error).stack}`);
          rejected++;
        }
      }
    }
    expect(rejected).toBeGreaterThan(200);
  });
});
