// Hostile inputs (issue #22): every one is generated here, ends in one WeightsFormatError, and costs little time and
// memory. Valid files still load (the fixture suites in torch.test.ts and safetensors.test.ts).
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type RawTensor, WeightsFormatError, defaultMaterializeLimit, readCheckpoint, readSafetensors, readTorchCheckpoint } from './index';
import { readCheckpointFile, readSafetensorsFile } from './node';
import { MAX_COLLECTION_ENTRIES, checkedAdd, checkedSet, guardLimits } from './pickle';
import { int32le, pickleBytes, torchZipBytes } from './test-util';

const tmp = mkdtempSync(join(tmpdir(), 'svg-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `f`, expects exactly a WeightsFormatError matching `re`, within `ms` milliseconds; returns the error. */
function rejectsQuickly(f: () => unknown, re: RegExp, ms = 2000): WeightsFormatError {
  const t0 = performance.now();
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  const elapsed = performance.now() - t0;
  expect(error).toBeInstanceOf(WeightsFormatError);
  expect((error as Error).message).toMatch(re);
  expect((error as Error).message.length).toBeLessThan(600);
  expect(elapsed).toBeLessThan(ms);
  return error as WeightsFormatError;
}

const str = (s: string): (string | number[])[] => ['X', int32le(s.length), s];

/** `_rebuild_tensor_v2` of the one-float storage "0" with shape [n] and stride [0] (an expanded view). */
function expanded(n: number): (string | number[])[] {
  return [
    'ctorch._utils\n_rebuild_tensor_v2\n',
    '((', ...str('storage'), 'ctorch\nFloatStorage\n', ...str('0'), ...str('cpu'), 'K', [1], 't', 'Q',
    'K', [0], 'J', int32le(n), [0x85], 'K', [0], [0x85], [0x89], ')t', 'R',
  ];
}

/** A torch zip holding a list of `count` expanded views of one 4-byte storage. */
function expansionBomb(count: number, n: number): Uint8Array {
  const parts: (string | number[])[] = [[0x80, 2], ']('];
  for (let i = 0; i < count; i++) parts.push(...expanded(n));
  parts.push('e.');
  return torchZipBytes(pickleBytes(...parts), [['0', new Uint8Array(new Float32Array([7]).buffer)]]);
}

/** Pushes a tuple DAG of `levels` levels whose full text is 2^levels long: x = ('a',); x = (x, x) ... */
function shared(levels: number): (string | number[])[] {
  const parts: (string | number[])[] = [...str('a'), [0x85]];
  for (let i = 0; i < levels; i++) parts.push([0x32, 0x86]); // DUP, TUPLE2
  return parts;
}

describe('memory bombs in torch checkpoints', () => {
  it('8 expanded views of one float (512 MiB) are refused before anything is copied', () => {
    const bytes = expansionBomb(8, 1 << 24);
    expect(bytes.length).toBeLessThan(2000);
    const e = rejectsQuickly(() => readTorchCheckpoint(bytes, { source: 'bomb.pt' }), /^bomb\.pt: .*over the limit of 67108864 .*ReadTorchOptions\.maxMaterializedBytes/);
    expect(e.source).toBe('bomb.pt');
  });

  it('128 expanded views (8 GiB) are refused too, also through readCheckpoint and readCheckpointFile', async () => {
    const bytes = expansionBomb(128, 1 << 24);
    rejectsQuickly(() => readCheckpoint(bytes, { source: 'big.pt' }), /^big\.pt: .*maxMaterializedBytes/);
    const path = join(tmp, 'bomb.pt');
    writeFileSync(path, bytes);
    await expect(readCheckpointFile(path)).rejects.toThrow(/maxMaterializedBytes/);
  });

  it('the limit is max(64 MiB, 16 × file size) and maxMaterializedBytes moves it', () => {
    expect(defaultMaterializeLimit(1000)).toBe(64 * 2 ** 20);
    expect(defaultMaterializeLimit(10 * 2 ** 20)).toBe(160 * 2 ** 20);
    const bytes = expansionBomb(3, 1000); // 3 × 4000 bytes materialised
    rejectsQuickly(() => readTorchCheckpoint(bytes, { source: 's.pt', maxMaterializedBytes: 8000 }), /over the limit of 8000/);
    const list = readTorchCheckpoint(bytes, { maxMaterializedBytes: 12000 }) as RawTensor[];
    expect(list.length).toBe(3);
    for (const t of list) {
      expect(t.shape).toEqual([1000]);
      expect((t.data as Float32Array).every((v) => v === 7)).toBe(true);
    }
    expect((readTorchCheckpoint(bytes) as RawTensor[]).length).toBe(3); // the default allows it
  });

  it('shared argument tuples cannot be copied over and over', () => {
    // A 100,000-entry list in the memo, then 1000 list() calls of it: 800 MB of copies from a ~200 KB file.
    const parts: (string | number[])[] = [[0x80, 2], ']('];
    parts.push('N'.repeat(100_000), 'e', 'q', [0], '0', ']('); // BINPUT 0, POP
    parts.push('cbuiltins\nlist\nh\x00\x85R'.repeat(1000), 'e.'); // list(memo[0]) × 1000
    rejectsQuickly(() => readTorchCheckpoint(torchZipBytes(pickleBytes(...parts)), { source: 'copies.pt' }), /^copies\.pt: copying a list .*maxMaterializedBytes/);
  });
});

describe('bounded error messages', () => {
  it('a storage type that is a shared tuple DAG (2^40 characters in full) is described in a short message', () => {
    const pkl = pickleBytes([0x80, 2], '(', ...str('storage'), ...shared(40), ...str('0'), ...str('cpu'), 'K', [1], 't', 'Q', '.');
    expect(pkl.length).toBeLessThan(500);
    const e = rejectsQuickly(() => readTorchCheckpoint(torchZipBytes(pkl), { source: 'dag.pt' }), /^dag\.pt: unsupported storage type \(\(\(/);
    expect(e.message.length).toBeLessThan(300);
  });

  it('a legacy protocol version that is a DAG too', () => {
    const magic = pickleBytes([0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], '.');
    const bytes = pickleBytes(magic, pickleBytes([0x80, 2], ...shared(40), '.'));
    rejectsQuickly(() => readTorchCheckpoint(bytes, { source: 'old.pt' }), /^old\.pt: legacy checkpoint: unsupported protocol version \(/);
  });
});

describe('unbounded nesting and engine limits', () => {
  it('20,000 nested _rebuild_from_type_v2 calls end in a WeightsFormatError, not a stack overflow', () => {
    const levels = 20_000;
    const head = pickleBytes([0x80, 2], 'ctorch._tensor\n_rebuild_from_type_v2\n', 'q', [0], '0', 'h', [0]);
    const open = '(h\x00N'; // MARK, memo[0] (the global), None, then the next level's tuple
    const inner = '(ccollections\nOrderedDict\nN)t';
    const chain = (n: number) => pickleBytes(head, open.repeat(n), inner, 't'.repeat(n), 'R.');
    const deep = chain(levels);
    expect(deep.length).toBeGreaterThan(20_000);
    rejectsQuickly(() => readTorchCheckpoint(torchZipBytes(deep), { source: 'deep.pt' }), /^deep\.pt: calls of torch\._tensor\._rebuild_from_type_v2 nest more than 1000 deep/);
    expect(readTorchCheckpoint(torchZipBytes(chain(10)))).toEqual(new Map()); // a shallow chain still works
  });

  it('a copyreg.__newobj__ chain of 3000 is cut at 1000', () => {
    const parts: (string | number[])[] = [[0x80, 2], 'ccopyreg\n__newobj__\n', 'q', [0], '('];
    parts.push('h\x00'.repeat(3000), 'ccollections\nOrderedDict\n', 't', 'R.');
    rejectsQuickly(() => readTorchCheckpoint(torchZipBytes(pickleBytes(...parts)), { source: 'n.pt' }), /nest more than 1000 deep/);
  });

  it('dicts and sets stop at 2^24 entries, engine RangeErrors become WeightsFormatErrors', () => {
    expect(MAX_COLLECTION_ENTRIES).toBe(2 ** 24);
    const full = { size: 2 ** 24, has: () => false, set: () => undefined, add: () => undefined };
    expect(() => checkedSet(full as never, 'k', 1, 'x.pt')).toThrow(/^x\.pt: pickle: a dict grows past 16777216 entries/);
    expect(() => checkedAdd(full as never, 'k', 'x.pt')).toThrow(/^x\.pt: pickle: a set grows past 16777216 entries/);
    const overflow = () => guardLimits('x.pt', () => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    expect(overflow).toThrow(WeightsFormatError);
    expect(overflow).toThrow(/^x\.pt: input exceeds a limit of this reader \(Maximum call stack size exceeded\)/);
  });

  it('files of 4 GiB or more are refused with a WeightsFormatError', async () => {
    const path = join(tmp, 'huge.pt');
    const fd = openSync(path, 'w');
    try {
      ftruncateSync(fd, 2 ** 32 + 8); // sparse: no disk space used
    } finally {
      closeSync(fd);
    }
    await expect(readCheckpointFile(path)).rejects.toThrow(/huge\.pt: file of 4294967304 bytes is too large to read into memory/);
    rmSync(path);
  });
});

/** A safetensors file from a header object or text and data bytes (the length prefix and padding are added). */
function st(header: object | string, data: Uint8Array | number): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const padded = text + ' '.repeat((8 - (text.length % 8)) % 8);
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + padded.length + bytes.length);
  new DataView(out.buffer).setUint32(0, padded.length, true);
  for (let i = 0; i < padded.length; i++) out[8 + i] = padded.charCodeAt(i);
  out.set(bytes, 8 + padded.length);
  return out;
}
const f32 = (begin: number, end: number) => ({ dtype: 'F32', shape: [(end - begin) / 4], data_offsets: [begin, end] });
const read = (b: Uint8Array) => readSafetensors(b, { source: 'h.safetensors' });

describe('safetensors validated as the reference implementation', () => {
  it('accepts tensors that tile the data, empty ones included', () => {
    const { tensors } = read(st({ a: f32(0, 8), e: f32(8, 8), b: f32(8, 16), z: f32(16, 16) }, 16));
    expect([...tensors.keys()]).toEqual(['a', 'e', 'b', 'z']);
  });
  it('rejects overlaps, also with an empty tensor sorted between them', () => {
    rejectsQuickly(() => read(st({ a: f32(0, 8), b: f32(4, 12) }, 12)), /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/);
    rejectsQuickly(() => read(st({ a: f32(0, 8), e: f32(4, 4), b: f32(4, 12) }, 12)), /^h\.safetensors: tensors "a" \[0, 8\] and "e" \[4, 4\] overlap/);
    rejectsQuickly(() => read(st({ a: f32(0, 8), b: f32(0, 8) }, 8)), /tensors "a" \[0, 8\] and "b" \[0, 8\] overlap/);
  });
  it('rejects gaps and trailing bytes', () => {
    rejectsQuickly(() => read(st({ a: f32(0, 8), b: f32(12, 16) }, 16)), /^h\.safetensors: 4 unused bytes between tensor "a" \[0, 8\] and tensor "b" \[12, 16\]/);
    rejectsQuickly(() => read(st({ b: f32(4, 8) }, 8)), /4 unused bytes between the start of the data and tensor "b"/);
    rejectsQuickly(() => read(st({ a: f32(0, 8) }, 9)), /^h\.safetensors: 1 trailing bytes after the last tensor/);
    rejectsQuickly(() => read(st({}, 3)), /3 trailing bytes/);
  });
  it('rejects duplicate keys, in the header and in __metadata__, escaped or not', () => {
    rejectsQuickly(() => read(st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)), /^h\.safetensors: header has the key "a" twice/);
    rejectsQuickly(() => read(st('{"\\u0061":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)), /key "a" twice/);
    rejectsQuickly(() => read(st('{"__metadata__":{"k":"1","k":"2"}}', 0)), /key "k" twice/);
    rejectsQuickly(() => read(st('{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)), /key "dtype" twice/);
    // The same name in different objects, or inside strings, is fine.
    expect(read(st('{"__metadata__":{"a":"\\"a\\":{,"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)).metadata).toEqual({ a: '"a":{,' });
  });
  it('reads 200,000 tensors without spreading them into a call', async () => {
    const n = 200_000;
    const header: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) header[`t${String(i).padStart(6, '0')}`] = f32(4 * i, 4 * i + 4);
    const bytes = st(header, 4 * n);
    expect(read(bytes).tensors.size).toBe(n);
    const path = join(tmp, 'many.safetensors');
    writeFileSync(path, bytes);
    expect((await readSafetensorsFile(path)).tensors.size).toBe(n);
  });
});
