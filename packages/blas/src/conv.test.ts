import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blasKernelStats, registerBlasKernels, unregisterBlasKernels } from './register';
import { BACKENDS, blasVsStock, expectAddon, randomTensor, relativeError, seeded, useBackend, values } from './test-util';
import { shiftedConv } from './shifted-conv';
import { winogradConv3x3 } from './addon';

const TOL = 1e-5;

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: Pad;
  dilation?: number;
}

const CASES: Record<string, ConvCase> = {
  '3x3 same': { x: [2, 9, 8, 5], filter: [3, 3, 5, 6], stride: 1, pad: 'same' },
  '3x3 stride 2 valid': { x: [2, 9, 8, 5], filter: [3, 3, 5, 4], stride: 2, pad: 'valid' },
  '16x16 stride 16 (patch embedding)': { x: [1, 32, 48, 3], filter: [16, 16, 3, 8], stride: 16, pad: 'valid' },
  '1x1': { x: [2, 5, 6, 7], filter: [1, 1, 7, 9], stride: 1, pad: 'valid' },
  '1x1 stride 2': { x: [2, 5, 6, 7], filter: [1, 1, 7, 9], stride: 2, pad: 'valid' },
  '3x3 explicit asymmetric padding, stride 2': { x: [1, 7, 8, 3], filter: [3, 3, 3, 4], stride: 2, pad: [[0, 0], [1, 2], [2, 1], [0, 0]] },
  '3x3 dilation 2 same': { x: [1, 10, 9, 4], filter: [3, 3, 4, 5], stride: 1, pad: 'same', dilation: 2 },
  '3x3 valid (shifted taps)': { x: [2, 7, 9, 4], filter: [3, 3, 4, 5], stride: 1, pad: 'valid' },
  '3x3 same on a 256×128 image (Winograd), odd channels': { x: [1, 256, 128, 9], filter: [3, 3, 9, 10], stride: 1, pad: 'same' },
  '3x3 valid on a 2×258×131 batch (Winograd, ragged tiles)': { x: [2, 258, 131, 8], filter: [3, 3, 8, 8], stride: 1, pad: 'valid' },
  '4x2 same, even filter (shifted taps)': { x: [1, 6, 7, 3], filter: [4, 2, 3, 4], stride: 1, pad: 'same' },
  '3x3 same, 8→12 channels (dx as a rotated-filter conv)': { x: [2, 9, 10, 8], filter: [3, 3, 8, 12], stride: 1, pad: 'same' },
  '3x3 valid, 9→8 channels (dx as a rotated-filter conv)': { x: [2, 7, 11, 9], filter: [3, 3, 9, 8], stride: 1, pad: 'valid' },
  '3x3 asymmetric padding, 8→8 channels (dx as a rotated-filter conv)': { x: [1, 8, 7, 8], filter: [3, 3, 8, 8], stride: 1, pad: [[0, 0], [0, 2], [1, 0], [0, 0]] },
  '3x3 explicit padding larger than the filter reach (shifted taps)': { x: [1, 5, 4, 2], filter: [3, 3, 2, 3], stride: 1, pad: [[0, 0], [3, 0], [0, 4], [0, 0]] },
};
// tfjs has no conv gradient with dilation; the gradients never take the Winograd path, so its large images are left out.
const GRADIENT_CASES = Object.entries(CASES).filter(([name, c]) => !c.dilation && !name.includes('Winograd'));

const conv = (c: ConvCase, seed: number) => () =>
  tf.conv2d(randomTensor(c.x, seed) as tf.Tensor4D, randomTensor(c.filter, seed + 1) as tf.Tensor4D, c.stride, c.pad, 'NHWC', c.dilation ?? 1);

/** d/dx and d/dfilter of sum(conv(x, filter) · r), through the fused op (bias) or the plain one. */
const convGrads = (c: ConvCase, fused: boolean) => () => {
  const r = () => randomTensor(tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.stride, c.pad).shape, 7);
  const f = (x: tf.Tensor, w: tf.Tensor) => {
    const y = fused
      ? tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.stride, pad: c.pad, bias: randomTensor([c.filter[3]], 8) })
      : tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad);
    return tf.sum(tf.mul(y, r()));
  };
  return tf.grads(f)([randomTensor(c.x, 5), randomTensor(c.filter, 6)]);
};

describe.each(BACKENDS)('BLAS conv kernels on %s', (backend) => {
  beforeAll(() => expectAddon());
  afterAll(() => unregisterBlasKernels());

  it.each(Object.entries(CASES))('conv2d %s matches the stock kernel', async (_name, c) => {
    expect(await blasVsStock(backend, conv(c, 1), { kernels: [tf.Conv2D] })).toBeLessThan(TOL);
  });

  it.each([
    ['3x3 same', 'linear'],
    ['3x3 same', 'relu'],
    ['3x3 same', 'leakyrelu'],
    ['3x3 same', 'elu'],
    ['3x3 same on a 256×128 image (Winograd), odd channels', 'linear'],
    ['3x3 same on a 256×128 image (Winograd), odd channels', 'relu'],
  ] as const)('fused conv2d %s + bias + %s matches the stock kernel', async (name, activation) => {
    const c = CASES[name]!;
    const f = () =>
      tf.fused.conv2d({
        x: randomTensor(c.x, 2) as tf.Tensor4D,
        filter: randomTensor(c.filter, 3) as tf.Tensor4D,
        strides: 1,
        pad: c.pad,
        bias: randomTensor([c.filter[3]], 4),
        activation,
        leakyreluAlpha: 0.3,
      });
    expect(await blasVsStock(backend, f, { kernels: [tf.FusedConv2D] })).toBeLessThan(TOL);
  });

  // Stock wasm has no Conv2DBackpropFilter: its reference gradients come from the cpu backend.
  const reference = backend === 'wasm' ? 'cpu' : backend;

  it.each(GRADIENT_CASES)('conv2d gradients (input and filter) for %s match the stock kernels', async (_name, c) => {
    const err = await blasVsStock(backend, convGrads(c, false), { kernels: [tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter], reference });
    expect(err).toBeLessThan(TOL);
  });

  it('gradients through fused conv2d with a bias (what @svg/nn Conv2d runs) match the stock kernels', async () => {
    const err = await blasVsStock(backend, convGrads(CASES['3x3 same']!, true), { kernels: [tf.FusedConv2D, tf.Conv2DBackpropFilter], reference });
    expect(err).toBeLessThan(TOL);
  });

  it('conv2dTranspose (Conv2DBackpropInput) matches the stock kernel', async () => {
    const f = () => tf.conv2dTranspose(randomTensor([2, 4, 5, 6], 9) as tf.Tensor4D, randomTensor([3, 3, 3, 6], 10) as tf.Tensor4D, [2, 8, 10, 3], 2, 'same');
    expect(await blasVsStock(backend, f, { kernels: [tf.Conv2DBackpropInput] })).toBeLessThan(TOL);
  });

  it('an Adam step on a conv layer runs through BLAS and lowers the loss', async () => {
    await useBackend(backend);
    expect(registerBlasKernels(backend)).toBe(true);
    try {
      const w = tf.variable(randomTensor([3, 3, 2, 4], 11));
      const x = randomTensor([2, 6, 6, 2], 12);
      const target = randomTensor([2, 6, 6, 4], 13);
      const optimizer = tf.train.adam(0.05);
      const loss = () => tf.mean(tf.square(tf.sub(tf.conv2d(x as tf.Tensor4D, w as tf.Variable<tf.Rank.R4>, 1, 'same'), target))) as tf.Scalar;
      const first = tf.tidy(() => loss().dataSync()[0]!);
      optimizer.minimize(loss); // creates the optimizer's state
      const tensors = tf.memory().numTensors;
      const filterGrads = blasKernelStats()[tf.Conv2DBackpropFilter]!.native;
      for (let i = 0; i < 10; i++) optimizer.minimize(loss);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(blasKernelStats()[tf.Conv2DBackpropFilter]!.native).toBe(filterGrads + 10);
      const last = tf.tidy(() => loss().dataSync()[0]!);
      expect(last).toBeLessThan(0.8 * first);
      optimizer.dispose();
      tf.dispose([w, x, target]);
    } finally {
      unregisterBlasKernels();
    }
  });
});

describe('fallbacks and registration', () => {
  beforeAll(() => expectAddon());

  it('NCHW conv2d runs the stock cpu kernel', async () => {
    const before = blasKernelStats()[tf.Conv2D]?.fallback ?? 0;
    const f = () => tf.conv2d(randomTensor([1, 3, 6, 5], 1) as tf.Tensor4D, randomTensor([3, 3, 3, 2], 2) as tf.Tensor4D, 1, 'same', 'NCHW');
    expect(await blasVsStock('cpu', f)).toBeLessThan(TOL);
    expect(blasKernelStats()[tf.Conv2D]!.fallback).toBe(before + 1);
    expect(blasKernelStats()[tf.Conv2D]!.lastFallbackReason).toBe('data format NCHW');
  });

  it('adds Conv2DBackpropFilter to wasm and removes it again', async () => {
    await useBackend('wasm');
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm')).toBeUndefined();
    expect(registerBlasKernels('wasm')).toBe(true);
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm')).toBeDefined();
    unregisterBlasKernels('wasm');
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm')).toBeUndefined();
  });
});

describe('shifted-tap conv in bands', () => {
  beforeAll(() => expectAddon());

  it.each([1, 2, 5])('gives the stock cpu result with bands of %i output rows, with and without a bias', async (bandRows) => {
    await useBackend('cpu');
    unregisterBlasKernels();
    const [b, h, w, c, n] = [2, 7, 6, 3, 4];
    const info = tf.backend_util.computeConv2DInfo([b, h, w, c], [3, 3, c, n], 1, 1, 'same');
    const x = seeded(b * h * w * c, 1);
    const filter = seeded(9 * c * n, 2);
    const bias = seeded(n, 3);
    const [expected] = await values(() => tf.add(tf.conv2d(tf.tensor4d(x, [b, h, w, c]), tf.tensor4d(filter, [3, 3, c, n]), 1, 'same'), bias));
    const y = new Float32Array(b * h * w * n);
    for (let i = 0; i < y.length; i += n) y.set(bias, i);
    const wp = w + 2;
    shiftedConv(x, filter, y, info, 1, 3 * wp * c + bandRows * wp * (c + n));
    expect(relativeError([y], [expected!])).toBeLessThan(1e-6);
    const noBias = new Float32Array(y.length).fill(NaN); // overwritten, not accumulated, without a bias
    shiftedConv(x, filter, noBias, info, 0, 3 * wp * c + bandRows * wp * (c + n));
    const [plain] = await values(() => tf.conv2d(tf.tensor4d(x, [b, h, w, c]), tf.tensor4d(filter, [3, 3, c, n]), 1, 'same'));
    expect(relativeError([noBias], [plain!])).toBeLessThan(1e-6);
  });
});

describe('Winograd F(2×2, 3×3) conv', () => {
  beforeAll(() => expectAddon());

  it('equals the shifted-tap sgemm conv over several bands of tiles, odd sizes, scalar and vector bias', () => {
    const [b, h, w, c, n] = [2, 131, 67, 64, 40]; // 66 × 34 tiles of 2×2: the 8 MiB band budget splits them in 3
    const info = tf.backend_util.computeConv2DInfo([b, h, w, c], [3, 3, c, n], 1, 1, 'same');
    const x = seeded(b * h * w * c, 41);
    const filter = seeded(9 * c * n, 42);
    for (const bias of [seeded(n, 43), Float32Array.of(0.25)]) {
      const expected = new Float32Array(b * h * w * n);
      for (let i = 0; i < expected.length; i++) expected[i] = bias.length === 1 ? bias[0]! : bias[i % n]!;
      shiftedConv(x, filter, expected, info, 1);
      const y = new Float32Array(expected.length).fill(NaN);
      winogradConv3x3(x, filter, bias, y, b, h, w, c, n, h, w, 1, 1);
      expect(relativeError([y], [expected])).toBeLessThan(2e-6);
    }
  });

  it.each([
    ['valid', 'valid' as const],
    ['explicit [2, 0] × [0, 1]', [[0, 0], [2, 0], [0, 1], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]],
  ])('handles %s padding like the shifted-tap conv', (_name, pad) => {
    const [b, h, w, c, n] = [1, 9, 8, 8, 9];
    const info = tf.backend_util.computeConv2DInfo([b, h, w, c], [3, 3, c, n], 1, 1, pad);
    const x = seeded(b * h * w * c, 44);
    const filter = seeded(9 * c * n, 45);
    const expected = new Float32Array(b * info.outHeight * info.outWidth * n);
    shiftedConv(x, filter, expected, info, 0);
    const y = new Float32Array(expected.length).fill(NaN);
    winogradConv3x3(x, filter, null, y, b, h, w, c, n, info.outHeight, info.outWidth, info.padInfo.top, info.padInfo.left);
    expect(relativeError([y], [expected])).toBeLessThan(2e-6);
  });

  it('refuses a bias of the wrong length and short buffers', () => {
    const x = new Float32Array(4 * 4 * 8);
    const f = new Float32Array(9 * 8 * 8);
    expect(() => winogradConv3x3(x, f, new Float32Array(3), new Float32Array(128), 1, 4, 4, 8, 8, 4, 4, 1, 1)).toThrow(/bias must have 1 or `out` elements/);
    expect(() => winogradConv3x3(x, f, null, new Float32Array(100), 1, 4, 4, 8, 8, 4, 4, 1, 1)).toThrow(/y has 100 elements, the shapes need 128/);
  });
});
