import * as tf from '@tensorflow/tfjs-core';

/** BatchNorm epsilon of torchvision's `BasicConv2d` (the TensorFlow graph's value). */
export const INCEPTION_BN_EPS = 0.001;

/** One `BasicConv2d` (conv without bias → BatchNorm → ReLU) of the FID Inception v3, as named in the checkpoint. */
export interface BasicConvSpec {
  /** Module path, e.g. `Mixed_6d.branch1x1`: the checkpoint keys are `<name>.conv.weight` and `<name>.bn.*`. */
  name: string;
  inChannels: number;
  outChannels: number;
  /** Kernel height and width (`[1, 7]` is PyTorch's `kernel_size=(1, 7)`). */
  kernel: [number, number];
  stride: number;
  /** Zero padding [rows, columns] on each side. */
  padding: [number, number];
}

/** A `BasicConv2d` with its BatchNorm folded into the kernel and a bias: one fused conv + bias + ReLU. */
export class FoldedConv {
  readonly filter: tf.Tensor4D;
  readonly bias: tf.Tensor1D;

  constructor(
    readonly spec: BasicConvSpec,
    filterHWIO: Float32Array,
    bias: Float32Array,
  ) {
    const [kh, kw] = spec.kernel;
    this.filter = tf.tensor4d(filterHWIO, [kh, kw, spec.inChannels, spec.outChannels], 'float32');
    this.bias = tf.tensor1d(bias, 'float32');
  }

  /** NHWC `[B, H, W, inChannels]` → `relu(conv(x) + bias)`. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const { kernel, stride, padding } = this.spec;
    const [ph, pw] = padding;
    let pad: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
    if (ph === 0 && pw === 0) pad = 'valid';
    else if (stride === 1 && 2 * ph === kernel[0] - 1 && 2 * pw === kernel[1] - 1) pad = 'same';
    else pad = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
    return tf.fused.conv2d({ x, filter: this.filter, strides: stride, pad, bias: this.bias, activation: 'relu' });
  }

  dispose(): void {
    this.filter.dispose();
    this.bias.dispose();
  }
}

/**
 * Folds eval-mode BatchNorm into a bias-free conv, in float64: with `s = γ / √(var + eps)`, the kernel becomes `W·s`
 * (per output channel) and the bias `β − mean·s`. `weight` is PyTorch's `[out, in, kh, kw]`; the kernel comes back
 * in tfjs' HWIO layout `[kh, kw, in, out]`.
 */
export function foldBatchNorm(
  spec: BasicConvSpec,
  weight: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps = INCEPTION_BN_EPS,
): { filter: Float32Array; bias: Float32Array } {
  const { inChannels: ci, outChannels: co } = spec;
  const [kh, kw] = spec.kernel;
  const filter = new Float32Array(kh * kw * ci * co);
  const bias = new Float32Array(co);
  for (let o = 0; o < co; o++) {
    const s = gamma[o] / Math.sqrt(variance[o] + eps);
    bias[o] = beta[o] - mean[o] * s;
    for (let i = 0; i < ci; i++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          filter[((y * kw + x) * ci + i) * co + o] = weight[((o * ci + i) * kh + y) * kw + x] * s;
        }
      }
    }
  }
  return { filter, bias };
}

/** Which block type each `Mixed_*` layer is (torchvision names; `A`, `C`, `E` with pytorch-fid's FID variants). */
export type InceptionBlockKind = 'A' | 'B' | 'C' | 'D' | 'E1' | 'E2';

/** The Mixed blocks in order, with their input channels and per-block parameter (`pool_features` of A, `c7` of C). */
export const MIXED_BLOCKS: { name: string; kind: InceptionBlockKind; inChannels: number; param?: number }[] = [
  { name: 'Mixed_5b', kind: 'A', inChannels: 192, param: 32 },
  { name: 'Mixed_5c', kind: 'A', inChannels: 256, param: 64 },
  { name: 'Mixed_5d', kind: 'A', inChannels: 288, param: 64 },
  { name: 'Mixed_6a', kind: 'B', inChannels: 288 },
  { name: 'Mixed_6b', kind: 'C', inChannels: 768, param: 128 },
  { name: 'Mixed_6c', kind: 'C', inChannels: 768, param: 160 },
  { name: 'Mixed_6d', kind: 'C', inChannels: 768, param: 160 },
  { name: 'Mixed_6e', kind: 'C', inChannels: 768, param: 192 },
  { name: 'Mixed_7a', kind: 'D', inChannels: 768 },
  { name: 'Mixed_7b', kind: 'E1', inChannels: 1280 },
  { name: 'Mixed_7c', kind: 'E2', inChannels: 2048 },
];

function conv(name: string, inChannels: number, outChannels: number, kernel: number | [number, number], stride = 1, padding: number | [number, number] = 0): BasicConvSpec {
  const k: [number, number] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
  const p: [number, number] = typeof padding === 'number' ? [padding, padding] : padding;
  return { name, inChannels, outChannels, kernel: k, stride, padding: p };
}

/** Every `BasicConv2d` of the FID Inception v3 (torchvision `Inception3` without the aux head), in checkpoint order. */
export function inceptionConvSpecs(): BasicConvSpec[] {
  const specs: BasicConvSpec[] = [
    conv('Conv2d_1a_3x3', 3, 32, 3, 2),
    conv('Conv2d_2a_3x3', 32, 32, 3),
    conv('Conv2d_2b_3x3', 32, 64, 3, 1, 1),
    conv('Conv2d_3b_1x1', 64, 80, 1),
    conv('Conv2d_4a_3x3', 80, 192, 3),
  ];
  for (const { name: n, kind, inChannels: c, param } of MIXED_BLOCKS) {
    if (kind === 'A') {
      specs.push(
        conv(`${n}.branch1x1`, c, 64, 1),
        conv(`${n}.branch5x5_1`, c, 48, 1),
        conv(`${n}.branch5x5_2`, 48, 64, 5, 1, 2),
        conv(`${n}.branch3x3dbl_1`, c, 64, 1),
        conv(`${n}.branch3x3dbl_2`, 64, 96, 3, 1, 1),
        conv(`${n}.branch3x3dbl_3`, 96, 96, 3, 1, 1),
        conv(`${n}.branch_pool`, c, param!, 1),
      );
    } else if (kind === 'B') {
      specs.push(
        conv(`${n}.branch3x3`, c, 384, 3, 2),
        conv(`${n}.branch3x3dbl_1`, c, 64, 1),
        conv(`${n}.branch3x3dbl_2`, 64, 96, 3, 1, 1),
        conv(`${n}.branch3x3dbl_3`, 96, 96, 3, 2),
      );
    } else if (kind === 'C') {
      const c7 = param!;
      specs.push(
        conv(`${n}.branch1x1`, c, 192, 1),
        conv(`${n}.branch7x7_1`, c, c7, 1),
        conv(`${n}.branch7x7_2`, c7, c7, [1, 7], 1, [0, 3]),
        conv(`${n}.branch7x7_3`, c7, 192, [7, 1], 1, [3, 0]),
        conv(`${n}.branch7x7dbl_1`, c, c7, 1),
        conv(`${n}.branch7x7dbl_2`, c7, c7, [7, 1], 1, [3, 0]),
        conv(`${n}.branch7x7dbl_3`, c7, c7, [1, 7], 1, [0, 3]),
        conv(`${n}.branch7x7dbl_4`, c7, c7, [7, 1], 1, [3, 0]),
        conv(`${n}.branch7x7dbl_5`, c7, 192, [1, 7], 1, [0, 3]),
        conv(`${n}.branch_pool`, c, 192, 1),
      );
    } else if (kind === 'D') {
      specs.push(
        conv(`${n}.branch3x3_1`, c, 192, 1),
        conv(`${n}.branch3x3_2`, 192, 320, 3, 2),
        conv(`${n}.branch7x7x3_1`, c, 192, 1),
        conv(`${n}.branch7x7x3_2`, 192, 192, [1, 7], 1, [0, 3]),
        conv(`${n}.branch7x7x3_3`, 192, 192, [7, 1], 1, [3, 0]),
        conv(`${n}.branch7x7x3_4`, 192, 192, 3, 2),
      );
    } else {
      specs.push(
        conv(`${n}.branch1x1`, c, 320, 1),
        conv(`${n}.branch3x3_1`, c, 384, 1),
        conv(`${n}.branch3x3_2a`, 384, 384, [1, 3], 1, [0, 1]),
        conv(`${n}.branch3x3_2b`, 384, 384, [3, 1], 1, [1, 0]),
        conv(`${n}.branch3x3dbl_1`, c, 448, 1),
        conv(`${n}.branch3x3dbl_2`, 448, 384, 3, 1, 1),
        conv(`${n}.branch3x3dbl_3a`, 384, 384, [1, 3], 1, [0, 1]),
        conv(`${n}.branch3x3dbl_3b`, 384, 384, [3, 1], 1, [1, 0]),
        conv(`${n}.branch_pool`, c, 192, 1),
      );
    }
  }
  return specs;
}

/**
 * 3×3 stride-1 average pool with padding 1 that divides by the number of in-image pixels (PyTorch
 * `count_include_pad=False`): tfjs' `avgPool` with `'same'` padding averages over the valid window only.
 */
export function avgPool3x3ExcludePad(x: tf.Tensor4D): tf.Tensor4D {
  return tf.avgPool(x, 3, 1, 'same');
}

/** Runs one Mixed block on NHWC `x`; `conv(name, x)` applies the folded `BasicConv2d` `<block>.<name>`. */
export function mixedBlock(kind: InceptionBlockKind, x: tf.Tensor4D, conv: (branch: string, x: tf.Tensor4D) => tf.Tensor4D): tf.Tensor4D {
  const cat = (parts: tf.Tensor4D[]) => tf.concat(parts, 3) as tf.Tensor4D;
  switch (kind) {
    case 'A':
      return cat([
        conv('branch1x1', x),
        conv('branch5x5_2', conv('branch5x5_1', x)),
        conv('branch3x3dbl_3', conv('branch3x3dbl_2', conv('branch3x3dbl_1', x))),
        conv('branch_pool', avgPool3x3ExcludePad(x)),
      ]);
    case 'B':
      return cat([
        conv('branch3x3', x),
        conv('branch3x3dbl_3', conv('branch3x3dbl_2', conv('branch3x3dbl_1', x))),
        tf.maxPool(x, 3, 2, 'valid'),
      ]);
    case 'C': {
      const b7 = conv('branch7x7_3', conv('branch7x7_2', conv('branch7x7_1', x)));
      let d = conv('branch7x7dbl_1', x);
      for (const i of [2, 3, 4, 5]) d = conv(`branch7x7dbl_${i}`, d);
      return cat([conv('branch1x1', x), b7, d, conv('branch_pool', avgPool3x3ExcludePad(x))]);
    }
    case 'D':
      return cat([
        conv('branch3x3_2', conv('branch3x3_1', x)),
        conv('branch7x7x3_4', conv('branch7x7x3_3', conv('branch7x7x3_2', conv('branch7x7x3_1', x)))),
        tf.maxPool(x, 3, 2, 'valid'),
      ]);
    case 'E1':
    case 'E2': {
      const t = conv('branch3x3_1', x);
      const u = conv('branch3x3dbl_2', conv('branch3x3dbl_1', x));
      // pytorch-fid: FIDInceptionE_1 (Mixed_7b) pools by average without the padding, FIDInceptionE_2 (Mixed_7c) by max.
      const pooled = kind === 'E1' ? avgPool3x3ExcludePad(x) : tf.maxPool(x, 3, 1, 'same');
      return cat([
        conv('branch1x1', x),
        conv('branch3x3_2a', t),
        conv('branch3x3_2b', t),
        conv('branch3x3dbl_3a', u),
        conv('branch3x3dbl_3b', u),
        conv('branch_pool', pooled),
      ]);
    }
  }
}
