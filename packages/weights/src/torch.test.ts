import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type RawTensor,
  PickleObject,
  WeightsFormatError,
  findStateDict,
  isRawTensor,
  pickleState,
  readCheckpoint,
  readSafetensors,
  readTorchCheckpoint,
  stripPrefix,
  toFloat32,
  toStateDict,
} from './index';
import { readCheckpointFile } from './node';
import { fixturesDir } from '../../../tools/testing/fixtures';
import { fixtureBytes, fsum, fuzz, makeZip } from './test-util';

const spec = JSON.parse(readFileSync(join(fixturesDir(), 'checkpoints.json'), 'utf8'));
const TORCH_DTYPES: Record<string, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL', int8: 'I8', int16: 'I16',
};

function values(t: RawTensor): (number | boolean)[] {
  if (t.dtype === 'F16' || t.dtype === 'BF16') return Array.from(toFloat32(t));
  if (t.dtype === 'I64') return Array.from(t.data as BigInt64Array, Number);
  if (t.dtype === 'BOOL') return Array.from(t.data as Uint8Array, (v) => v !== 0);
  return Array.from(t.data as Float64Array);
}

/** Compares our unpickled tree with the fixture's description; returns the tensors by path. */
function compare(expected: any, actual: unknown, path: string, tensors: Map<string, RawTensor>): void {
  const where = `${path || '/'}`;
  switch (expected.type) {
    case 'dict':
    case 'OrderedDict': {
      expect(actual, where).toBeInstanceOf(Map);
      const map = actual as Map<unknown, unknown>;
      expect([...map.keys()], where).toEqual(expected.items.map((kv: any[]) => kv[0]));
      for (const [k, v] of expected.items) compare(v, map.get(k), `${path}/${k}`, tensors);
      if (expected.has_metadata_attribute) expect(pickleState(map)?.get('_metadata'), where).toBeInstanceOf(Map);
      return;
    }
    case 'list':
    case 'tuple':
      expect(Array.isArray(actual), where).toBe(true);
      expect((actual as unknown[]).length, where).toBe(expected.items.length);
      expected.items.forEach((v: any, i: number) => compare(v, (actual as unknown[])[i], `${path}/${i}`, tensors));
      return;
    case 'int':
    case 'float':
    case 'str':
    case 'bool':
      expect(actual, where).toBe(expected.value);
      return;
    case 'NoneType':
      expect(actual, where).toBeNull();
      return;
    case 'tensor': {
      expect(isRawTensor(actual), where).toBe(true);
      const t = actual as RawTensor;
      expect(t.dtype, where).toBe(TORCH_DTYPES[expected.dtype]);
      expect(t.shape, where).toEqual(expected.shape);
      const v = values(t);
      expect(v.length, where).toBe(expected.shape.reduce((a: number, b: number) => a * b, 1));
      expect(v.slice(0, 4), where).toEqual(expected.first4);
      const sum = t.dtype === 'BOOL' ? v.filter(Boolean).length : fsum(v as number[]);
      expect(sum, `${where} sum`).toBe(expected.sum);
      tensors.set(path, t);
      return;
    }
    default:
      throw new Error(`${where}: unexpected fixture type ${expected.type}`);
  }
}

describe('readTorchCheckpoint on the fixture checkpoints', () => {
  for (const file of spec.files) {
    it(`${file.file} (${file.format.split(' ')[0]}) reads exactly`, () => {
      const bytes = fixtureBytes(file.file);
      const tree = readTorchCheckpoint(bytes, { source: file.file });
      const tensors = new Map<string, RawTensor>();
      compare(file.expected, tree, '', tensors);
      for (const group of file.shared_storage_groups as string[][]) {
        const [a, b] = group.map((p) => tensors.get(p)!);
        expect(a.data.buffer, group.join(' ~ ')).toBe(b.data.buffer);
        const offsets = group.map((p) => findTensorSpec(file.expected, p).storage_offset);
        expect(b.data.byteOffset - a.data.byteOffset).toBe((offsets[1] - offsets[0]) * a.data.BYTES_PER_ELEMENT);
      }
    });
  }

  it('the plain DiT state dict equals the fixture weights file', async () => {
    const sd = findStateDict(await readCheckpointFile(join(fixturesDir(), 'checkpoints/dit_plain.pt')));
    const ref = readSafetensors(fixtureBytes('dit.weights.safetensors')).tensors;
    expect([...sd.keys()].sort()).toEqual([...ref.keys()].sort());
    for (const [k, t] of ref) {
      expect(sd.get(k)!.shape, k).toEqual(t.shape);
      expect(Buffer.from(sd.get(k)!.data.buffer, sd.get(k)!.data.byteOffset, sd.get(k)!.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), k).toBe(true);
    }
  });

  it('readCheckpointFile dispatches on content (zip, legacy, safetensors)', async () => {
    const zip = await readCheckpointFile(join(fixturesDir(), 'checkpoints/upstream_dinov3_sp_stats.pt'));
    expect([...(zip as Map<string, RawTensor>).keys()]).toEqual(['dinov3_sp_mean', 'dinov3_sp_std']);
    const legacy = await readCheckpointFile(join(fixturesDir(), 'checkpoints/upstream_lpips_vgg.pth'));
    const st = await readCheckpointFile(join(fixturesDir(), 'lpips_vgg_lin.safetensors'));
    for (const [k, t] of st as Map<string, RawTensor>) expect(toStateDict(legacy as Map<string, RawTensor>).get(k), k).toEqual(t);
    expect(() => readCheckpoint(new Uint8Array(16), { source: 'x.bin' })).toThrow(/^x\.bin: not a safetensors/);
  });
});

function findTensorSpec(expected: any, path: string): any {
  let node = expected;
  for (const part of path.split('/').slice(1)) node = node.items.find((kv: any[]) => String(kv[0]) === part)[1];
  return node;
}

describe('state dict helpers', () => {
  const t = (n: number): RawTensor => ({ dtype: 'F32', shape: [n], data: new Float32Array(n) });

  it('findStateDict prefers ema, then state_dict, then model, and accepts plain state dicts', () => {
    const ema = readTorchCheckpoint(fixtureBytes('checkpoints/dit_ema_step.pt'));
    expect(findStateDict(ema)).toBe((ema as Map<string, unknown>).get('ema'));
    const lightning = readTorchCheckpoint(fixtureBytes('checkpoints/lightning_style.ckpt')) as Map<string, unknown>;
    expect(findStateDict(lightning)).toBe(lightning.get('state_dict'));
    expect([...findStateDict({ model: { a: t(1) }, state_dict: new Map([['b', t(2)]]) }).keys()]).toEqual(['b']);
    expect([...findStateDict({ x: t(1), y: t(2) }).keys()]).toEqual(['x', 'y']);
    expect([...findStateDict({ model: { w: t(1) }, step: 3 }).keys()]).toEqual(['w']);
    expect(() => findStateDict(new Map([['step', 3]]))).toThrow(/no state dict found .*top-level keys: step/);
  });

  it('stripPrefix strips only prefixes every key has', () => {
    const sd = stripPrefix({ 'module.model.a': t(1), 'module.model.b': t(1) });
    expect([...sd.keys()]).toEqual(['a', 'b']);
    expect([...stripPrefix(new Map([['model.a', t(1)], ['b', t(1)]])).keys()]).toEqual(['model.a', 'b']);
    expect([...stripPrefix({ 'enc.a': t(1) }, ['enc.']).keys()]).toEqual(['a']);
  });

  it('toStateDict treats Maps and plain objects alike and names bad entries', () => {
    const a = t(2);
    expect(toStateDict({ a })).toEqual(new Map([['a', a]]));
    const m = new Map([['a', a]]);
    expect(toStateDict(m)).toBe(m);
    expect(() => toStateDict({ a, b: 3 } as never)).toThrow(/entry "b" is not a tensor/);
  });
});

/** Bytes of a protocol-2 pickle given as opcodes and strings. */
function pickle(...parts: (string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0));
    else out.push(...p);
  }
  return new Uint8Array(out);
}

function torchZip(pkl: Uint8Array, storages: [string, Uint8Array][] = [], zip64 = false): Uint8Array {
  return makeZip([['archive/data.pkl', pkl], ...storages.map(([k, v]) => [`archive/data/${k}`, v] as [string, Uint8Array]), ['archive/version', new TextEncoder().encode('3\n')]], zip64);
}

describe('unsafe and unknown pickles', () => {
  const call = (module: string, name: string) => pickle([0x80, 2], `c${module}\n${name}\n`, 'X', [2, 0, 0, 0], 'ls', [0x85], 'R.');

  for (const [module, name] of [['os', 'system'], ['posix', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['builtins', 'getattr'], ['__builtin__', '__import__'], ['subprocess', 'Popen'], ['nt', 'system']]) {
    it(`refuses ${module}.${name}`, () => {
      expect(() => readTorchCheckpoint(torchZip(call(module, name)), { source: 'evil.pt' })).toThrow(
        new RegExp(`^evil\\.pt: pickle: refusing global ${module}\\.${name}`),
      );
    });
  }

  it('refuses dangerous globals named through STACK_GLOBAL (protocol 4) and in legacy files', () => {
    const p4 = pickle([0x80, 4], [0x8c, 8], 'builtins', [0x8c, 4], 'eval', [0x93], [0x8c, 2], '1+', [0x85], 'R.');
    expect(() => readTorchCheckpoint(torchZip(p4))).toThrow(/refusing global builtins\.eval/);
    const legacy = new Uint8Array([...fixtureBytes('checkpoints/upstream_lpips_vgg.pth').subarray(0, 0)]);
    expect(legacy.length).toBe(0);
    const magic = fixtureBytes('checkpoints/legacy_format.pt').subarray(0, 15);
    const evil = new Uint8Array([...magic, ...pickle([0x80, 2], 'M', [0xe9, 0x03], '.'), ...pickle([0x80, 2], '}.'), ...call('os', 'system')]);
    expect(() => readTorchCheckpoint(evil, { source: 'old.pt' })).toThrow(/^old\.pt: pickle: refusing global os\.system/);
  });

  it('keeps unknown classes as inert objects with their arguments and state', () => {
    const p = pickle(
      [0x80, 2], '}(X', [4, 0, 0, 0], 'args',
      'c__main__\nTrainConfig\n', ')', [0x81], '}X', [2, 0, 0, 0], 'lr', 'G', [0x3f, 0x1a, 0x36, 0xe2, 0xeb, 0x1c, 0x43, 0x2d], 's', 'b',
      'X', [3, 0, 0, 0], 'dev', 'ctorch\ndevice\n', 'X', [3, 0, 0, 0], 'cpu', [0x85], 'R', 'u.',
    );
    const tree = readTorchCheckpoint(torchZip(p)) as Map<string, PickleObject>;
    const cfg = tree.get('args')!;
    expect(cfg).toBeInstanceOf(PickleObject);
    expect(`${cfg.module}.${cfg.name}`).toBe('__main__.TrainConfig');
    expect((cfg.state as Map<string, number>).get('lr')).toBe(1e-4);
    expect(tree.get('dev')!.args).toEqual(['cpu']);
  });

  it('refuses attribute chains in dotted names and allows copyreg.__newobj__', () => {
    expect(() => readTorchCheckpoint(torchZip(call('torch', 'nn.__dict__')))).toThrow(/refusing global torch\.nn\.__dict__/);
    const p = pickle([0x80, 2], 'ccopyreg\n__newobj__\n', 'ccollections\nOrderedDict\n', [0x85], 'R', 'X', [1, 0, 0, 0], 'k', 'K', [5], 's.');
    expect(readTorchCheckpoint(torchZip(p))).toEqual(new Map([['k', 5]]));
  });

  it('decodes numpy scalars and arrays', () => {
    const dtype = (d: string) => ['cnumpy\ndtype\n', 'X', [d.length, 0, 0, 0], d, [0x89, 0x88, 0x87], 'R', ')', 'X', [1, 0, 0, 0], '<', 'NNN', 'J', [255, 255, 255, 255], 'J', [255, 255, 255, 255], 'K', [0], 't'].map((x) => x) as (string | number[])[];
    const scalar = pickle(
      [0x80, 2], 'cnumpy.core.multiarray\nscalar\n', ...dtype('f8').slice(0, 6), '(K', [3], ...dtype('f8').slice(6), 'b', 'C', [8], [0, 0, 0, 0, 0, 0, 0xf8, 0x3f], [0x86], 'R.',
    );
    expect(readTorchCheckpoint(torchZip(scalar))).toBe(1.5);
    const array = pickle(
      [0x80, 2], 'cnumpy.core.multiarray\n_reconstruct\n', 'cnumpy\nndarray\n', 'K', [0], [0x85], 'C', [1], 'b', [0x87], 'R',
      '(K', [1], 'K', [2], 'K', [3], [0x86], ...dtype('i4').slice(0, 6), '(K', [3], ...dtype('i4').slice(6), 'b', [0x88], 'C', [24], [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0], 't', 'b.',
    );
    const arr = readTorchCheckpoint(torchZip(array)) as RawTensor;
    expect(arr.dtype).toBe('I32');
    expect(arr.shape).toEqual([2, 3]);
    expect(Array.from(arr.data as Int32Array)).toEqual([1, 3, 5, 2, 4, 6]); // Fortran order → row-major
  });

  it('materialises strided views, reads zip64 archives and rejects views past their storage', () => {
    const tensor = (size: number[], stride: number[], offset: number) =>
      pickle(
        [0x80, 2], 'ctorch._utils\n_rebuild_tensor_v2\n', '((X', [7, 0, 0, 0], 'storage', 'ctorch\nFloatStorage\n', 'X', [1, 0, 0, 0], '0', 'X', [3, 0, 0, 0], 'cpu', 'K', [6], 't', 'Q',
        'K', [offset], '(', ...size.flatMap((s) => ['K', [s]] as (string | number[])[]), 't', '(', ...stride.flatMap((s) => ['K', [s]] as (string | number[])[]), 't', [0x89], ')t', 'R.',
      );
    const storage: [string, Uint8Array][] = [['0', new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer)]];
    const t = readTorchCheckpoint(torchZip(tensor([3, 2], [1, 3], 0), storage)) as RawTensor;
    expect(Array.from(t.data as Float32Array)).toEqual([0, 3, 1, 4, 2, 5]);
    const expanded = readTorchCheckpoint(torchZip(tensor([2, 3], [0, 1], 3), storage)) as RawTensor;
    expect(Array.from(expanded.data as Float32Array)).toEqual([3, 4, 5, 3, 4, 5]);
    expect(() => readTorchCheckpoint(torchZip(tensor([3, 2], [2, 1], 1), storage), { source: 'v.pt' })).toThrow(
      /^v\.pt: tensor of shape \[3, 2\], stride \[2, 1\], offset 1 runs past its storage of 6 elements/,
    );
    expect(() => readTorchCheckpoint(torchZip(tensor([2], [1], 0), []))).toThrow(/storage "0" has no zip entry archive\/data\/0/);
    const z64 = readTorchCheckpoint(torchZip(tensor([3, 2], [1, 3], 0), storage, true)) as RawTensor;
    expect(Array.from(z64.data as Float32Array)).toEqual([0, 3, 1, 4, 2, 5]);
  });
});

describe('fuzzing the checkpoint readers', () => {
  const read = (b: Uint8Array) => readTorchCheckpoint(b, { source: 'fuzz' });

  it('zip: corruptions of a real file raise only WeightsFormatError', () => {
    const small = fixtureBytes('checkpoints/upstream_dinov3_sp_stats.pt');
    fuzz(small, 1500, 7, read);
    const ema = fixtureBytes('checkpoints/dit_ema_step.pt');
    fuzz(ema, 400, 8, read, [0, 3700]);
    fuzz(ema, 300, 9, read, [ema.length - 4000, ema.length]);
  });

  it('legacy: corruptions of real files raise only WeightsFormatError', () => {
    fuzz(fixtureBytes('checkpoints/upstream_lpips_vgg.pth'), 1500, 10, read);
    const legacy = fixtureBytes('checkpoints/legacy_format.pt');
    fuzz(legacy, 500, 11, read, [0, 8000]);
  });

  it('random bytes behind a pickle header raise only WeightsFormatError', () => {
    let seed = 5;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const b = new Uint8Array(2 + (next() % 200)).map(() => next() % 256);
      b[0] = 0x80;
      b[1] = 2;
      try {
        read(torchZip(b));
      } catch (e) {
        if (!(e instanceof WeightsFormatError)) throw new Error(`case ${i}: ${(e as Error).message}`);
      }
    }
  });
});
