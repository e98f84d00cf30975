import { reduceSum } from './addon';
import { isFloat32, sizeOf, type BlasKernel } from './kernel';

/**
 * `Sum` or `Mean` over attr `axis` (a number, a list, or null for all axes; negative counts from the end; keepDims as tfjs) of a float32
 * tensor, accumulated in double. The reduced axes must be adjacent (after sorting): then x is `[outer, reduce, inner]`
 * and no transpose is needed. Other cases go to the stock kernel.
 */
const reductionKernel =
  (mean: boolean): BlasKernel =>
  ({ inputs, attrs, data }) => {
    const { x } = inputs;
    if (!isFloat32(x)) return 'not float32';
    const shape = x!.shape;
    const rank = shape.length;
    const given = attrs.axis as number | number[] | null | undefined;
    const list = given === null || given === undefined ? shape.map((_, i) => i) : Array.isArray(given) ? given : [given];
    const axes = [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
    if (axes.some((a) => !(a >= 0 && a < rank))) return `axis ${JSON.stringify(given)} for rank ${rank}`;
    if (axes.some((a, k) => a !== axes[0]! + k)) return `reduced axes ${JSON.stringify(axes)} are not adjacent`;
    const first = axes[0] ?? rank;
    const last = axes.length > 0 ? axes[axes.length - 1]! + 1 : rank;
    const reduce = sizeOf(shape.slice(first, last));
    if (reduce === 0) return 'an empty reduction';
    const outShape = attrs.keepDims ? shape.map((d, i) => (i >= first && i < last ? 1 : d)) : shape.filter((_, i) => i < first || i >= last);
    const out = data.alloc(outShape);
    reduceSum(data.read(x!), out.values, sizeOf(shape.slice(0, first)), reduce, sizeOf(shape.slice(last)), mean ? 1 / reduce : 1);
    return out.info;
  };

/** `Sum`. */
export const sumKernel = reductionKernel(false);
/** `Mean`. */
export const meanKernel = reductionKernel(true);
