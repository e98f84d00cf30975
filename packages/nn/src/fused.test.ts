// The fused kernels (@svg/blas on cpu and wasm) against the tfjs-op composites they replace: values and gradients.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { FusedKernel, registerBlasKernels, unregisterBlasKernels } from '@svg/blas';
import { FUSED_KERNELS, canFuse } from './fused';
import { GroupNorm, LayerNorm, geluTanh, initBackend, scaledDotProductAttention, seededNormal, silu } from './index';

type Case = { name: string; kernel: string; f: (x: tf.Tensor) => tf.Tensor; params: () => tf.Variable[]; input: tf.Tensor };

// The names are the contract between the two packages; @svg/blas cannot import them (nn loads it only optionally).
it('@svg/blas provides its fused kernels under exactly the names @svg/nn calls', () => {
  expect(FusedKernel).toEqual(FUSED_KERNELS);
});

function cases(): Case[] {
  const ln = new LayerNorm(48, { eps: 1e-6 });
  const lnPlain = new LayerNorm(48, { eps: 1e-6, affine: false });
  const gn = new GroupNorm(4, 16);
  for (const [m, seed] of [[ln, 1], [gn, 2]] as const) {
    m.weight!.set(tf.add(1, tf.mul(seededNormal(m.weight!.shape, seed), 0.3)));
    m.bias!.set(tf.mul(seededNormal(m.bias!.shape, seed + 10), 0.3));
  }
  const x3 = tf.mul(seededNormal([2, 5, 48], 3), 2);
  const x4 = tf.add(seededNormal([2, 3, 5, 16], 4), 1);
  const kv = tf.mul(seededNormal([2, 3, 7, 8], 5), 1.5);
  const attend = (q: tf.Tensor) => scaledDotProductAttention(q as tf.Tensor4D, kv as tf.Tensor4D, tf.mul(kv, 0.7) as tf.Tensor4D, 0.4);
  const vars = (m: LayerNorm | GroupNorm) => [m.weight?.value, m.bias?.value].filter((v): v is tf.Variable => v instanceof tf.Variable);
  return [
    { name: 'geluTanh', kernel: FUSED_KERNELS.geluTanh, input: x3, f: geluTanh, params: () => [] },
    { name: 'silu', kernel: FUSED_KERNELS.silu, input: x3, f: silu, params: () => [] },
    { name: 'LayerNorm (affine)', kernel: FUSED_KERNELS.layerNorm, input: x3, f: (x) => ln.forward(x), params: () => vars(ln) },
    { name: 'LayerNorm (no affine)', kernel: FUSED_KERNELS.layerNorm, input: x3, f: (x) => lnPlain.forward(x), params: () => vars(lnPlain) },
    { name: 'GroupNorm', kernel: FUSED_KERNELS.groupNorm, input: x4, f: (x) => gn.forward(x), params: () => vars(gn) },
    { name: 'GroupNorm + SiLU', kernel: FUSED_KERNELS.groupNorm, input: x4, f: (x) => gn.forward(x, 'silu'), params: () => vars(gn) },
    // q, k and v all depend on the input, so the q, k and v gradients are all checked.
    { name: 'attention', kernel: FUSED_KERNELS.attention, input: kv, f: (x) => scaledDotProductAttention(tf.mul(x, 1.3) as tf.Tensor4D, x as tf.Tensor4D, tf.sin(x) as tf.Tensor4D, 0.4), params: () => [] },
    { name: 'attention (fixed k, v)', kernel: FUSED_KERNELS.attention, input: seededNormal([2, 3, 5, 8], 6), f: attend, params: () => [] },
  ];
}

/** Output, d(Σ w·y)/dx and d(Σ w·y)/dparams with fixed weights w, as plain arrays. */
async function valueAndGrads(c: Case): Promise<Float32Array[]> {
  const before = tf.memory().numTensors;
  const y = tf.tidy(() => c.f(c.input));
  const w = seededNormal(y.shape, 9);
  const loss = (x: tf.Tensor) => tf.sum(tf.mul(w, c.f(x)));
  const [dx] = tf.grads(loss)([c.input]);
  const params = c.params();
  const { value, grads }: { value: tf.Scalar | null; grads: tf.NamedTensorMap } = params.length ? tf.variableGrads(() => loss(c.input) as tf.Scalar, params) : { value: null, grads: {} };
  value?.dispose();
  const out = [y, dx!, ...params.map((p) => grads[p.name]!)];
  const data = await Promise.all(out.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose([...out, w]);
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return data;
}

describe.each(['cpu', 'wasm'] as const)('fused kernels on %s', (backend) => {
  afterAll(() => registerBlasKernels(backend));

  it('free their gradient intermediates node by node: backward peak memory under half the composites', async () => {
    await initBackend(backend);
    const x = seededNormal([64, 512], 7);
    const norm = new LayerNorm(512, { affine: false });
    const deep = (t: tf.Tensor) => {
      for (let i = 0; i < 8; i++) t = norm.forward(silu(geluTanh(t)));
      return tf.sum(t);
    };
    const peak = async () => (await tf.profile(() => tf.dispose(tf.grads(deep)([x])))).peakBytes;
    const fused = await peak();
    unregisterBlasKernels(backend);
    const composite = await peak();
    registerBlasKernels(backend);
    x.dispose();
    // The composites save every intermediate for their backward; the fused ops save only their inputs and, with
    // each gradFunc tidied, drop its temporaries as soon as the node is done (measured: 9 MB against 46 MB; 37 MB
    // when the temporaries lived until the end of the backward pass).
    expect(fused).toBeLessThan(composite / 2);
  });

  it('run when @svg/blas is registered and agree with the tfjs-op composites in value and gradient', async () => {
    await initBackend(backend);
    const all = cases();
    for (const c of all) expect(canFuse(c.kernel, c.input), `${c.kernel} not registered`).toBe(true);
    for (const grad of [FUSED_KERNELS.attentionGrad, FUSED_KERNELS.geluTanhGrad, FUSED_KERNELS.siluGrad, FUSED_KERNELS.layerNormGrad]) {
      expect(canFuse(grad, all[0]!.input), `${grad} not registered`).toBe(true);
    }
    const fused: Float32Array[][] = [];
    for (const c of all) fused.push(await valueAndGrads(c));
    unregisterBlasKernels(backend);
    for (const [i, c] of all.entries()) {
      expect(canFuse(c.kernel, c.input)).toBe(false);
      const composite = await valueAndGrads(c);
      expect(fused[i]!.length, c.name).toBe(composite.length);
      composite.forEach((want, j) => {
        const got = fused[i]![j]!;
        const scale = Math.max(1, ...want.map(Math.abs));
        const err = got.reduce((m, v, k) => Math.max(m, Math.abs(v - want[k]!)), 0);
        expect(err / scale, `${c.name} output ${j}`).toBeLessThan(2e-5);
      });
    }
  });
});
