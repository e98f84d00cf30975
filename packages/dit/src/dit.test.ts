import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom, silu } from '@svg/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, useBackend } from '../../../tools/testing/backends';
import { DiT, GatedMlp, createDiT, sinCosPositionTable } from './index';

// A model small enough for finite differences (at the SVG grid of 256 tokens).
const TINY = { inChannels: 4, hiddenSize: 16, depth: 2, numHeads: 2, numClasses: 5 } as const;
const rng = new SeededRandom(3);
const randn = (shape: number[], std = 1) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), 0, std), shape);

/** Upstream-initialised model with every weight then perturbed, so that no gate or output is zero. */
function perturbedModel(config: object = TINY, seed = 11): DiT {
  const model = createDiT(config, { seed });
  const noise = new SeededRandom(seed);
  for (const [, p] of model.trainableParameters()) {
    p.set(tf.tidy(() => tf.add(p.value, tf.tensor(noise.normalArray(p.value.size, 0, 0.2), p.shape))));
  }
  return model;
}

/** Loss and gradients of one training-mode step, read back as plain arrays keyed by parameter name. */
async function trainingStep(model: DiT): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const draw = new SeededRandom(9);
  const x = tf.tensor3d(draw.normalArray(2 * 256 * 4), [2, 256, 4]);
  const target = tf.tensor3d(draw.normalArray(2 * 256 * 4), [2, 256, 4]);
  model.train();
  model.dropoutRandom = new SeededRandom(1);
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(x, tf.tensor1d([0.3, 0.8]), [2, 4]);
    return tf.mean(tf.square(tf.sub(tf.slice(out, [0, 0, 0], [2, 256, 4]), target))) as tf.Scalar;
  });
  const byName = new Map<string, Float32Array>();
  for (const [name, p] of model.trainableParameters()) {
    const g = grads[p.variable.name];
    if (g) byName.set(name, await read(g));
  }
  const loss = (await read(value))[0];
  tf.dispose([value, x, target, ...Object.values(grads)]);
  return { loss, grads: byName };
}

async function values(model: DiT): Promise<Float32Array[]> {
  return Promise.all(model.namedParameters().map(([, p]) => read(p.value)));
}

describe('DiT on cpu: initialisation, conditioning and training', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('upstream init (§3.10): zero output, seeded, exact rules per parameter', async () => {
    const a = createDiT(TINY, { seed: 7 });
    const b = createDiT(TINY, { seed: 7 });
    const c = createDiT(TINY, { seed: 8 });
    const [va, vb, vc] = [await values(a), await values(b), await values(c)];
    expect(va).toEqual(vb);
    expect(va).not.toEqual(vc);
    const named = new Map(a.namedParameters().map(([n], i) => [n, va[i]]));
    const allZero = (v: Float32Array) => v.every((x) => x === 0);
    const std = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    expect(allZero(named.get('blocks.0.adaLN_modulation.1.weight')!)).toBe(true);
    expect(allZero(named.get('final_layer.linear.weight')!)).toBe(true);
    expect(allZero(named.get('final_layer.adaLN_modulation.1.bias')!)).toBe(true);
    expect(allZero(named.get('blocks.1.attn.qkv.bias')!)).toBe(true);
    expect(std(named.get('y_embedder.embedding_table.weight')!)).toBeGreaterThan(0.012);
    expect(std(named.get('y_embedder.embedding_table.weight')!)).toBeLessThan(0.03);
    const qkv = named.get('blocks.0.attn.qkv.weight')!; // xavier over the full [48, 16] matrix
    const bound = Math.sqrt(6 / (16 + 48));
    expect(Math.max(...qkv.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...qkv.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(named.get('blocks.0.attn.q_norm.weight')!.every((x) => x === 1)).toBe(true);
    expect(named.get('pos_embed')).toEqual(sinCosPositionTable(16, 16));
    const out = a.forward(randn([2, 256, 4]) as tf.Tensor3D, [0.1, 0.9], [1, 5]);
    expect(out.shape).toEqual([2, 256, 8]);
    expect((await read(out)).every((x) => x === 0)).toBe(true);
    for (const m of [a, b, c]) m.dispose();
  });

  it('conditions on t and y, honours skip and force_drop_ids, and keeps numTensors flat', async () => {
    const model = perturbedModel();
    const x = randn([2, 256, 4]) as tf.Tensor3D;
    const run = async (t: number[], y: number[], options = {}) => read(model.forward(x, t, y, options));
    const base = await run([0.2, 0.7], [1, 3]);
    expect(await run([0.2, 0.7], [1, 3])).toEqual(base);
    expect(await run([0.3, 0.7], [1, 3])).not.toEqual(base);
    expect(await run([0.2, 0.7], [2, 3])).not.toEqual(base);
    expect(await run([0.2, 0.7], [1, 3], { forceDropIds: [1, 1] })).toEqual(await run([0.2, 0.7], [5, 5]));
    expect(await run([0.2, 0.7], [1, 3], { skip: [0, 1] })).not.toEqual(base);
    // Sample independence: the first sample alone gives the first half of the batch.
    const single = await read(model.forward(tf.slice(x, [0, 0, 0], [1, 256, 4]) as tf.Tensor3D, [0.2], [1]));
    expect(Math.max(...single.map((v, i) => Math.abs(v - base[i])))).toBeLessThan(1e-5);

    const tt = tf.tensor1d([0.2, 0.7]);
    const yt = tf.tensor1d([1, 3], 'int32');
    model.forward(x, tt, yt).dispose();
    model.train();
    model.forward(x, tt, yt).dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      model.forward(x, tt, yt).dispose();
      model.forward(x, [0.2, 0.7], [1, 3]).dispose();
      model.forward(x, [0.2, 0.7], [1, 3], { forceDropIds: [0, 1], skip: [1] }).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, tt, yt]);
    model.dispose();
  });

  it('validates its inputs with clear errors', () => {
    const model = new DiT(TINY);
    const x = tf.zeros([2, 256, 4]) as tf.Tensor3D;
    expect(() => model.forward(tf.zeros([2, 255, 4]) as tf.Tensor3D, [0, 0], [0, 0])).toThrow(/x must be \[B, 256, 4\], got \[2,255,4\]/);
    expect(() => model.forward(x, [0], [0, 0])).toThrow(/t must hold one value per sample \(2\), got 1 values/);
    expect(() => model.forward(x, [0, 0], [0, 6])).toThrow(/label y\[1\] = 6 is outside the label table \[0, 5\]/);
    const noNull = new DiT({ ...TINY, classDropoutProb: 0 });
    expect(() => noNull.forward(x, [0, 0], [0, 5])).toThrow(/outside the label table \[0, 4\]/);
    expect(() => noNull.forward(x, [0, 0], [0, 1], { forceDropIds: [1, 0] })).toThrow(/forceDropIds needs classDropoutProb > 0/);
    noNull.train(); // no dropout without a null row, as upstream
    noNull.initializeWeights(0);
    const out = noNull.forward(x, [0, 0], [0, 4]);
    expect(out.shape).toEqual([2, 256, 8]);
    out.dispose();
    noNull.dispose();
    x.dispose();
  });

  it('label dropout in train mode follows dropoutRandom', async () => {
    const model = perturbedModel({ ...TINY, classDropoutProb: 0.5 });
    const x = randn([8, 256, 4]) as tf.Tensor3D;
    const t = Array(8).fill(0.5);
    const y = [0, 1, 2, 3, 4, 0, 1, 2];
    const evalOut = await read(model.forward(x, t, y));
    model.train();
    model.dropoutRandom = new SeededRandom(42);
    const a = await read(model.forward(x, t, y));
    model.dropoutRandom = new SeededRandom(42);
    const b = await read(model.forward(x, t, y));
    expect(a).toEqual(b);
    // which samples were dropped, by the same draw on the host
    const draw = new SeededRandom(42);
    const dropped = y.map(() => draw.uniform() < 0.5);
    expect(dropped.some(Boolean) && !dropped.every(Boolean)).toBe(true);
    model.eval();
    const nullOut = await read(model.forward(x, t, y.map((l, i) => (dropped[i] ? 5 : l))));
    expect(Math.max(...a.map((v, i) => Math.abs(v - nullOut[i])))).toBeLessThan(1e-5);
    expect(a).not.toEqual(evalOut);
    x.dispose();
    model.dispose();
  });

  it('one training step has a finite, non-zero gradient for every trainable parameter', async () => {
    const model = perturbedModel();
    const { loss, grads } = await trainingStep(model);
    expect(Number.isFinite(loss)).toBe(true);
    const trainable = model.trainableParameters();
    expect(trainable.map(([n]) => n)).not.toContain('pos_embed');
    for (const [name] of trainable) {
      const g = grads.get(name);
      expect(g, name).toBeDefined();
      expect(g!.every(Number.isFinite), name).toBe(true);
      if (name.startsWith('final_layer.linear.')) continue; // the unused sigma half is checked below
      // A bias shared by all keys shifts every score of a query equally: softmax ignores it (gradient 0 up to rounding).
      if (name.endsWith('k_norm.bias')) continue;
      expect(g!.some((v) => v !== 0), name).toBe(true);
    }
    // learn_sigma: output channels 4..7 never receive gradient (spec §3.10). Our weight is stored [in, out].
    const gw = grads.get('final_layer.linear.weight')!;
    expect(gw.filter((_, i) => i % 8 >= 4).every((v) => v === 0)).toBe(true);
    expect(gw.filter((_, i) => i % 8 < 4).some((v) => v !== 0)).toBe(true);
    model.dispose();
  });

  it('gradient checkpointing gives the same loss and gradients', async () => {
    const plain = await trainingStep(perturbedModel());
    const model = perturbedModel();
    model.gradientCheckpointing = true;
    const tensors = tf.memory().numTensors;
    const checkpointed = await trainingStep(model);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(checkpointed.loss).toBeCloseTo(plain.loss, 6);
    expect([...checkpointed.grads.keys()]).toEqual([...plain.grads.keys()]);
    for (const [name, g] of checkpointed.grads) {
      const want = plain.grads.get(name)!;
      const scale = Math.max(1e-6, ...want.map(Math.abs));
      expect(g.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0) / scale, name).toBeLessThan(1e-5);
    }
    model.dispose();
  });

  it('gradients agree with central finite differences', async () => {
    const model = perturbedModel();
    const x = randn([1, 256, 4]) as tf.Tensor3D;
    const w = randn([1, 256, 8]);
    const loss = () => tf.sum(tf.mul(model.forward(x, [0.4], [3]), w)) as tf.Scalar;
    const { grads } = tf.variableGrads(loss);
    const probes: [string, number][] = [
      ['ln1.weight', 5],
      ['t_embedder.mlp.0.weight', 300],
      ['y_embedder.embedding_table.weight', 3 * 16 + 2],
      ['blocks.0.attn.qkv.weight', 200],
      ['blocks.0.attn.q_norm.weight', 3],
      ['blocks.1.attn.k_norm.weight', 1],
      ['blocks.1.adaLN_modulation.1.weight', 77],
      ['blocks.1.mlp.fc1.bias', 9],
      ['final_layer.adaLN_modulation.1.bias', 20],
      ['final_layer.linear.weight', 17],
    ];
    const params = new Map(model.namedParameters());
    const h = 1e-2;
    for (const [name, index] of probes) {
      const p = params.get(name)!;
      const original = await read(p.value);
      const at = async (delta: number) => {
        const v = original.slice();
        v[index] += delta;
        p.set(tf.tensor(v, p.shape));
        const l = loss();
        const r = (await read(l))[0];
        l.dispose();
        return r;
      };
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      p.set(tf.tensor(original, p.shape));
      const analytic = (await read(grads[p.variable.name]))[index];
      expect(Math.abs(analytic - fd), `${name}[${index}]: analytic ${analytic}, finite difference ${fd}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
      expect(Math.abs(fd), name).toBeGreaterThan(1e-3);
    }
    tf.dispose([x, w, ...Object.values(grads)]);
    model.dispose();
  });

  it('useSwiglu builds the gated SiLU MLP (gate_proj/up_proj/down_proj, no bias)', async () => {
    const model = perturbedModel({ ...TINY, useSwiglu: true, mlpRatio: 2 });
    const names = model.namedParameters().map(([n]) => n).filter((n) => n.startsWith('blocks.0.mlp.'));
    expect(names).toEqual(['blocks.0.mlp.gate_proj.weight', 'blocks.0.mlp.up_proj.weight', 'blocks.0.mlp.down_proj.weight']);
    const mlp = model.blocks[0].mlp as GatedMlp;
    const v = randn([3, 16]);
    const ref = tf.matMul(tf.mul(silu(tf.matMul(v, mlp.gate.weight.value)), tf.matMul(v, mlp.up.weight.value)), mlp.down.weight.value);
    const got = mlp.forward(v);
    expect(Math.max(...(await read(tf.abs(tf.sub(got, ref)))))).toBeLessThan(1e-5);
    const out = model.forward(randn([1, 256, 4]) as tf.Tensor3D, [0.5], [0]);
    expect(out.shape).toEqual([1, 256, 8]);
    model.dispose();
  });
});

describe('DiT training on wasm', () => {
  it('gives the same loss and gradients as cpu', async () => {
    await useBackend('cpu');
    const onCpu = perturbedModel(TINY, 21);
    const ref = await trainingStep(onCpu);
    onCpu.dispose();
    await useBackend('wasm');
    const onWasm = perturbedModel(TINY, 21);
    const got = await trainingStep(onWasm);
    onWasm.dispose();
    expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-5 * Math.abs(ref.loss));
    for (const [name, g] of ref.grads) {
      const scale = Math.max(...g.map(Math.abs), 1e-3);
      const diff = Math.max(...got.grads.get(name)!.map((v, i) => Math.abs(v - g[i])));
      expect(diff / scale, name).toBeLessThan(1e-3);
    }
  });
});

describe('grid size (inputSize)', () => {
  it('takes inputSize² tokens with a matching sin-cos table, and loads back with the grid inferred', async () => {
    const { createDiT: create, loadDiT: load, sinCosPositionTable: table } = await import('./index');
    const { stateDict } = await import('@svg/nn');
    const model = create({ inputSize: 4, hiddenSize: 32, depth: 1, numHeads: 2, numClasses: 3 });
    expect(model.numTokens).toBe(16);
    expect(Array.from(await model.posEmbed.value.data())).toEqual(Array.from(Float32Array.from(table(32, 4))));
    const out = model.forward(tf.zeros([2, 16, 392]) as tf.Tensor3D, [0.5, 0.1], [0, 2]);
    expect(out.shape).toEqual([2, 16, 784]);
    expect(() => model.forward(tf.zeros([1, 256, 392]) as tf.Tensor3D, [0.5], [0])).toThrow(/x must be \[B, 16, 392\]/);
    const loaded = load(await stateDict(model));
    expect(loaded.config.inputSize).toBe(4);
    tf.dispose(out);
  });
});
