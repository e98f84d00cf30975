import { backend_util, type NamedAttrMap } from '@tensorflow/tfjs-core';
import { sgemm, winogradConv3x3 } from './addon';
import { activate, fillBias, planEpilogue } from './epilogue';
import { chunkRows, col2im, im2col, scratchBuffer } from './im2col';
import { isFloat32, sizeOf, type BlasKernel } from './kernel';
import { isShiftable, shiftedConv } from './shifted-conv';

type ConvInfo = backend_util.Conv2DInfo;
type Shape4 = [number, number, number, number];

/**
 * The geometry of an NHWC conv (x [b, h, w, in], filter [fh, fw, in, out]), or why it needs the stock kernel.
 * `dilations` is 1 for the gradient kernels, which take none.
 */
function planConv(xShape: number[], filterShape: number[], attrs: NamedAttrMap, dilations: number | [number, number]): ConvInfo | string {
  if (((attrs.dataFormat as string | undefined) ?? 'NHWC') !== 'NHWC') return `data format ${attrs.dataFormat}`;
  if (xShape.length !== 4 || filterShape.length !== 4) return 'rank ≠ 4';
  if (xShape[3] !== filterShape[2]) return 'input channels differ from the filter';
  let info: ConvInfo;
  try {
    info = backend_util.computeConv2DInfo(
      xShape as Shape4,
      filterShape as Shape4,
      attrs.strides as number | [number, number],
      dilations,
      attrs.pad as 'valid' | 'same' | number | backend_util.ExplicitPadding,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
      false,
      'channelsLast',
    );
  } catch {
    return 'invalid geometry';
  }
  if (sizeOf(info.inShape) === 0 || sizeOf(info.outShape) === 0 || sizeOf(filterShape) === 0) return 'empty tensor';
  return info;
}

/** A 1×1, stride-1, unpadded conv is a plain [b·h·w, in]·[in, out] product: no im2col needed. */
function isPointwise(info: ConvInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 && info.strideWidth === 1 && top + bottom + left + right === 0;
}

/**
 * 3×3, stride 1, no dilation, at least 8 channels in and out: Winograd F(2×2, 3×3) does 2.25× fewer multiply-adds
 * than the sgemm paths, for a few float32 roundings more (well inside the decoder fixtures' tolerances). Measured on
 * the decoder's convs (2-core Xeon): 57 against 81–113 ms at 256²×128, 11 against 18 ms at 64²×256.
 */
function isWinograd(info: ConvInfo): boolean {
  return (
    info.filterHeight === 3 && info.filterWidth === 3 && info.strideHeight === 1 && info.strideWidth === 1 &&
    info.dilationHeight === 1 && info.dilationWidth === 1 && info.inChannels >= 8 && info.outChannels >= 8
  );
}

function winograd(x: Float32Array, filter: Float32Array, bias: Float32Array | null, y: Float32Array, info: ConvInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth, padInfo } = info;
  winogradConv3x3(x, filter, bias, y, batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth, padInfo.top, padInfo.left);
}

const patchSize = (info: ConvInfo) => info.filterHeight * info.filterWidth * info.inChannels;
const outRows = (info: ConvInfo) => info.batchSize * info.outHeight * info.outWidth;

/** y = im2col(x)·filter (+ beta·y), in row chunks that bound the column buffer. */
function convForward(x: Float32Array, filter: Float32Array, y: Float32Array, info: ConvInfo, beta: number): void {
  const rows = outRows(info);
  const outC = info.outChannels;
  if (isPointwise(info)) return sgemm(x, filter, y, 1, rows, outC, info.inChannels, false, false, 0, 0, beta);
  if (isShiftable(info)) return shiftedConv(x, filter, y, info, beta);
  const K = patchSize(info);
  const chunk = chunkRows(K, rows);
  const col = scratchBuffer(chunk * K);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r = Math.min(chunk, rows - r0);
    im2col(x, info, r0, r, col);
    sgemm(col.subarray(0, r * K), filter, y.subarray(r0 * outC, (r0 + r) * outC), 1, r, outC, K, false, false, 0, 0, beta);
  }
}

/** `Conv2D`, NHWC: im2col and one sgemm (per chunk); any stride, padding, dilation. */
export const conv2d: BlasKernel = ({ inputs, attrs, data }) => {
  const { x, filter } = inputs;
  if (!isFloat32(x, filter)) return 'not float32';
  const info = planConv(x!.shape, filter!.shape, attrs, (attrs.dilations as number | [number, number] | undefined) ?? 1);
  if (typeof info === 'string') return info;
  const y = data.alloc(info.outShape);
  if (isWinograd(info)) winograd(data.read(x!), data.read(filter!), null, y.values, info);
  else convForward(data.read(x!), data.read(filter!), y.values, info, 0);
  return y.info;
};

/** `FusedConv2D`, NHWC: `Conv2D`, then a bias of rank ≤ 1 and an activation. */
export const fusedConv2d: BlasKernel = ({ inputs, attrs, data }) => {
  const { x, filter } = inputs;
  if (!isFloat32(x, filter)) return 'not float32';
  const info = planConv(x!.shape, filter!.shape, attrs, (attrs.dilations as number | [number, number] | undefined) ?? 1);
  if (typeof info === 'string') return info;
  const epilogue = planEpilogue(inputs, attrs, info.outChannels);
  if (typeof epilogue === 'string') return epilogue;
  const y = data.alloc(info.outShape);
  if (isWinograd(info)) {
    winograd(data.read(x!), data.read(filter!), epilogue.bias ? data.read(epilogue.bias) : null, y.values, info);
  } else {
    const beta = fillBias(y.values, epilogue, info.outChannels, data);
    convForward(data.read(x!), data.read(filter!), y.values, info, beta);
  }
  activate(y.values, epilogue, info.outChannels, data);
  return y.info;
};

/** `Conv2DBackpropInput` (the x-gradient of conv2d, and conv2dTranspose): dx = col2im(dy·filterᵀ). */
export const conv2dBackpropInput: BlasKernel = ({ inputs, attrs, data }) => {
  const { dy, filter } = inputs;
  if (!isFloat32(dy, filter)) return 'not float32';
  const info = planConv(attrs.inputShape as number[], filter!.shape, attrs, 1);
  if (typeof info === 'string') return info;
  if (dy!.shape.join() !== info.outShape.join()) return `dy shape [${dy!.shape}] ≠ conv output [${info.outShape}]`;
  const dx = data.alloc(info.inShape);
  const dyValues = data.read(dy!);
  const w = data.read(filter!);
  const rows = outRows(info);
  const outC = info.outChannels;
  if (isPointwise(info)) {
    sgemm(dyValues, w, dx.values, 1, rows, info.inChannels, outC, false, true, 0, 0, 0);
    return dx.info;
  }
  const { top, bottom, left, right } = info.padInfo;
  if (isWinograd(info) && [top, bottom, left, right].every((p) => p >= 0 && p <= 2)) {
    // Stride 1: dx is the forward conv of dy with the filter rotated by 180° and its channel axes swapped, padded by
    // 2 − pad on the top/left, so it runs on the Winograd kernel too.
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, padInfo } = info;
    winogradConv3x3(dyValues, rotatedFilter(w, inChannels, outC), null, dx.values, batchSize, outHeight, outWidth, outC, inChannels, inHeight, inWidth, 2 - padInfo.top, 2 - padInfo.left);
    return dx.info;
  }
  dx.values.fill(0);
  const K = patchSize(info);
  const chunk = chunkRows(K, rows);
  const dcol = scratchBuffer(chunk * K);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r = Math.min(chunk, rows - r0);
    sgemm(dyValues.subarray(r0 * outC, (r0 + r) * outC), w, dcol.subarray(0, r * K), 1, r, K, outC, false, true, 0, 0, 0);
    col2im(dcol, info, r0, r, dx.values);
  }
  return dx.info;
};

/** A 3×3 filter `[3, 3, in, out]` rotated by 180° with its channel axes swapped: `[3, 3, out, in]`. */
function rotatedFilter(w: Float32Array, inC: number, outC: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let kh = 0; kh < 3; kh++) {
    for (let kw = 0; kw < 3; kw++) {
      const src = ((2 - kh) * 3 + (2 - kw)) * inC * outC;
      const dst = (kh * 3 + kw) * outC * inC;
      for (let i = 0; i < inC; i++) for (let o = 0; o < outC; o++) out[dst + o * inC + i] = w[src + i * outC + o];
    }
  }
  return out;
}

/** `Conv2DBackpropFilter` (the filter gradient of conv2d; missing from stock wasm): dW = im2col(x)ᵀ·dy. */
export const conv2dBackpropFilter: BlasKernel = ({ inputs, attrs, data }) => {
  const { x, dy } = inputs;
  if (!isFloat32(x, dy)) return 'not float32';
  const filterShape = attrs.filterShape as number[];
  const info = planConv(x!.shape, filterShape, attrs, 1);
  if (typeof info === 'string') return info;
  if (dy!.shape.join() !== info.outShape.join()) return `dy shape [${dy!.shape}] ≠ conv output [${info.outShape}]`;
  const dw = data.alloc(filterShape);
  const xValues = data.read(x!);
  const dyValues = data.read(dy!);
  const rows = outRows(info);
  const outC = info.outChannels;
  const K = patchSize(info);
  if (isPointwise(info)) {
    sgemm(xValues, dyValues, dw.values, 1, K, outC, rows, true, false, 0, 0, 0);
    return dw.info;
  }
  const chunk = chunkRows(K, rows);
  const col = scratchBuffer(chunk * K);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r = Math.min(chunk, rows - r0);
    im2col(xValues, info, r0, r, col);
    sgemm(col.subarray(0, r * K), dyValues.subarray(r0 * outC, (r0 + r) * outC), dw.values, 1, K, outC, r, true, false, 0, 0, r0 === 0 ? 0 : 1);
  }
  return dw.info;
};
