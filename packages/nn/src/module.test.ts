import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Conv2d, LayerNorm, Linear, Module, StateDictMismatchError, loadStateDict, stateDict } from './index';

class Block extends Module {
  readonly norm = this.child('norm', new LayerNorm(4));
  readonly proj = this.child('proj', new Linear(4, 6));
  readonly conv = this.child('conv', new Conv2d(2, 3, 3));
  readonly layers = this.childList('layers', [new Linear(6, 6, { bias: false }), new Linear(6, 2)]);
  readonly scale = this.param('scale', [1, 1, 4], () => tf.ones([1, 1, 4]));
  readonly periods = this.buffer('periods', [2], () => tf.tensor([1, 2]));
}

const raw = (shape: number[], start = 0) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32' as const, shape, data: Float32Array.from({ length: n }, (_, i) => start + i) };
};

function fullStateDict() {
  return {
    scale: raw([1, 1, 4]),
    periods: raw([2]),
    'norm.weight': raw([4]),
    'norm.bias': raw([4]),
    'proj.weight': raw([6, 4]),
    'proj.bias': raw([6]),
    'conv.weight': raw([3, 2, 3, 3]),
    'conv.bias': raw([3]),
    'layers.0.weight': raw([6, 6]),
    'layers.1.weight': raw([2, 6]),
    'layers.1.bias': raw([2]),
  };
}

describe('Module and state dicts', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('names parameters as PyTorch does', () => {
    expect(new Block().namedParameters().map(([n]) => n)).toEqual([
      'scale', 'periods', 'norm.weight', 'norm.bias', 'proj.weight', 'proj.bias', 'conv.weight', 'conv.bias',
      'layers.0.weight', 'layers.1.weight', 'layers.1.bias',
    ]);
  });

  it('allocates nothing until a weight is used or loaded', () => {
    const before = tf.memory().numTensors;
    const big = new Linear(100_000, 100_000);
    expect(big.parameterCount()).toBe(100_000 * 100_001);
    expect(tf.memory().numTensors).toBe(before);
    expect(big.weight.allocated).toBe(false);
  });

  it('loads PyTorch layouts and writes them back unchanged', async () => {
    const m = new Block();
    const sd = fullStateDict();
    loadStateDict(m, sd);
    // Linear [out,in] becomes [in,out]; conv [out,in,kh,kw] becomes [kh,kw,in,out].
    expect(m.proj.weight.value.shape).toEqual([4, 6]);
    expect(m.conv.weight.value.shape).toEqual([3, 3, 2, 3]);
    const w = (await m.proj.weight.value.data()) as Float32Array;
    expect(w[1]).toBe(4); // ours[0][1] = torch[1][0] = 1*4
    const back = await stateDict(m);
    for (const [k, v] of Object.entries(sd)) {
      expect(back.get(k)!.shape).toEqual(v.shape);
      expect(Array.from(back.get(k)!.data as Float32Array)).toEqual(Array.from(v.data));
    }
    m.dispose();
  });

  it('accepts a Map as well as a plain object', () => {
    const m = new Block();
    expect(loadStateDict(m, new Map(Object.entries(fullStateDict())))).toEqual({ missing: [], unexpected: [] });
    m.dispose();
  });

  it('reports missing, unexpected and mis-shaped keys together', () => {
    const sd: Record<string, ReturnType<typeof raw>> = fullStateDict();
    delete sd['norm.bias'];
    sd['extra.weight'] = raw([1]);
    sd['proj.weight'] = raw([4, 6]);
    let err: unknown;
    try {
      loadStateDict(new Block(), sd);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictMismatchError);
    const e = err as StateDictMismatchError;
    expect(e.missing).toEqual(['norm.bias']);
    expect(e.unexpected).toEqual(['extra.weight']);
    expect(e.mismatched).toEqual(['proj.weight: expected [6,4], got [4,6]']);
    expect(e.message).toContain('norm.bias');
  });

  it('non-strict loading skips absent keys but still rejects wrong shapes', () => {
    const sd: Record<string, ReturnType<typeof raw>> = fullStateDict();
    delete sd['norm.bias'];
    const m = new Block();
    expect(loadStateDict(m, sd, { strict: false }).missing).toEqual(['norm.bias']);
    sd['proj.bias'] = raw([7]);
    expect(() => loadStateDict(m, sd, { strict: false })).toThrow(/proj.bias: expected \[6\], got \[7\]/);
  });

  it('selects and strips a key prefix', () => {
    const sd = Object.fromEntries(Object.entries(fullStateDict()).map(([k, v]) => [`encoder.${k}`, v]));
    const m = new Block();
    expect(loadStateDict(m, { ...sd, 'decoder.x': raw([1]) }, { prefix: 'encoder.' }).unexpected).toEqual([]);
  });

  it('trainable parameters are variables, frozen ones plain tensors; loading keeps that', () => {
    const m = new Block();
    loadStateDict(m, fullStateDict());
    expect(m.proj.weight.value).toBeInstanceOf(tf.Variable);
    expect(m.periods.value).not.toBeInstanceOf(tf.Variable);
    m.setTrainable(false);
    expect(m.proj.weight.value).not.toBeInstanceOf(tf.Variable);
    expect(m.trainableParameters()).toHaveLength(0);
    const before = tf.memory().numTensors;
    loadStateDict(m, fullStateDict());
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
