import type { TensorInfo } from '@tensorflow/tfjs-core';
import { transpose } from './addon';
import { isFloat32, sizeOf, type BlasKernel } from './kernel';

/** `Transpose`: any permutation of a float32 tensor of rank ≤ 8, in tiles over all cores. */
export const transposeKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { x } = inputs;
  if (!isFloat32(x)) return 'not float32';
  const perm = attrs.perm as number[];
  if (x!.shape.length > 8) return 'rank > 8';
  const out = data.alloc(perm.map((p) => x!.shape[p]));
  transpose(data.read(x!), out.values, x!.shape, perm);
  return out.info;
};

/** `Unpack` (tf.unstack): block copies; falls back when the blocks are too small for copies to pay. */
export const unpackKernel: BlasKernel = ({ inputs, attrs, data }) => {
  const { value: x } = inputs;
  if (!isFloat32(x)) return 'not float32';
  const shape = x!.shape;
  const axis = ((attrs.axis as number) + shape.length) % shape.length;
  const count = shape[axis];
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  if (outer > 1 && inner < 64) return 'blocks of < 64 elements';
  const outShape = shape.filter((_, i) => i !== axis);
  const outs: TensorInfo[] = Array.from({ length: count }, () => data.alloc(outShape).info);
  // Every allocation may have moved the wasm heap: take the views only now.
  const src = data.read(x!);
  const views = outs.map((o) => data.read(o));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < count; i++) {
      const start = (o * count + i) * inner;
      views[i].set(src.subarray(start, start + inner), o * inner);
    }
  }
  return outs;
};
