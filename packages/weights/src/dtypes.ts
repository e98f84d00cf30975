import { WeightsFormatError } from './errors';

/** Element types, named as in safetensors. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** The typed arrays a {@link RawTensor} may hold. */
export type TypedArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/**
 * A tensor as stored on disk: dtype, logical shape and row-major contiguous data. Storage per dtype:
 * F64 `Float64Array`, F32 `Float32Array`, F16 and BF16 `Uint16Array` (raw bits), I64 `BigInt64Array`,
 * I32 `Int32Array`, I16 `Int16Array`, I8 `Int8Array`, U8 `Uint8Array`, BOOL `Uint8Array` (0 or 1).
 * Use {@link toFloat32} or {@link convertTensor} to get plain numbers.
 */
export interface RawTensor {
  dtype: DType;
  /** Logical shape; `[]` for a 0-d scalar. */
  shape: number[];
  data: TypedArray;
}

type ArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray; new (length: number): TypedArray };

const ARRAY_TYPES: Record<DType, ArrayCtor> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
} as unknown as Record<DType, ArrayCtor>;

/** Every supported dtype. */
export const DTYPES = Object.keys(ARRAY_TYPES) as DType[];

/** Bytes per element of `dtype`. */
export function dtypeSize(dtype: DType): number {
  return (ARRAY_TYPES[dtype] as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
}

/** Whether `x` is a dtype name this package knows. */
export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(ARRAY_TYPES, x);
}

/** Number of elements of a shape (1 for `[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A typed array of `dtype` over `length` elements at `bytes[offset...]`: a zero-copy view when the absolute
 * byte offset is aligned to the element size, a copy otherwise. Data is little-endian (as on every supported host).
 */
export function typedView(dtype: DType, bytes: Uint8Array, offset: number, length: number): TypedArray {
  if (!LITTLE_ENDIAN) throw new Error('@svg/weights needs a little-endian host');
  const Ctor = ARRAY_TYPES[dtype];
  const size = dtypeSize(dtype);
  const at = bytes.byteOffset + offset;
  if (at % size === 0) return new Ctor(bytes.buffer, at, length);
  const copy = new Uint8Array(length * size);
  copy.set(bytes.subarray(offset, offset + length * size));
  return new Ctor(copy.buffer, 0, length);
}

/** A new zero-filled typed array for `dtype`. */
export function allocTyped(dtype: DType, length: number): TypedArray {
  return new ARRAY_TYPES[dtype](length);
}

/** The array type `dtype` is stored in (see {@link RawTensor}). */
export function arrayTypeOf(dtype: DType): ArrayCtor {
  return ARRAY_TYPES[dtype];
}

/** Decodes IEEE half-precision bits to a number (exact). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Encodes a number as IEEE half-precision bits, rounding to nearest even. */
const halfScratch = new Float32Array(1);
const halfScratchBits = new Uint32Array(halfScratch.buffer);

export function numberToHalf(x: number): number {
  halfScratch[0] = x; // through float32 first, without allocating (hot in float16 emulation)
  const bits = halfScratchBits[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Encodes a number as bfloat16 bits, rounding to nearest even (NaN stays NaN). */
export function numberToBFloat16(x: number): number {
  const f32 = new Float32Array([x]);
  const bits = new Uint32Array(f32.buffer)[0];
  if (Number.isNaN(x)) return ((bits >>> 16) | 0x40) & 0xffff;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/**
 * The tensor's values as a `Float32Array` (any dtype; BOOL as 0/1). For F32 this is `raw.data` itself (no copy):
 * copy it before mutating if the tensor is shared. I64 values beyond 2^24 lose precision, as in PyTorch's `.float()`.
 */
export function toFloat32(raw: RawTensor): Float32Array {
  const { dtype, data } = raw;
  if (dtype === 'F32') return data as Float32Array;
  const out = new Float32Array(data.length);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < data.length; i++) bits[i] = (data as Uint16Array)[i] << 16;
  } else if (dtype === 'F16') {
    const table = halfTable();
    for (let i = 0; i < data.length; i++) out[i] = table[(data as Uint16Array)[i]];
  } else if (dtype === 'I64') {
    for (let i = 0; i < data.length; i++) out[i] = Number((data as BigInt64Array)[i]);
  } else {
    out.set(data as Exclude<TypedArray, BigInt64Array>);
  }
  return out;
}

let HALF_TABLE: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToNumber(h);
  }
  return HALF_TABLE;
}

/**
 * The tensor's values as an `Int32Array` (integer and BOOL dtypes). I64 values are range-checked:
 * throws a {@link WeightsFormatError} naming `name` if one does not fit in int32.
 */
export function toInt32(raw: RawTensor, name = 'tensor'): Int32Array {
  const { dtype, data } = raw;
  if (dtype === 'I32') return data as Int32Array;
  if (dtype === 'I64') {
    const src = data as BigInt64Array;
    const out = new Int32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (v > 2147483647n || v < -2147483648n) {
        throw new WeightsFormatError(name, `int64 value ${v} at index ${i} does not fit in int32`);
      }
      out[i] = Number(v);
    }
    return out;
  }
  if (dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16') {
    throw new WeightsFormatError(name, `cannot convert ${dtype} to int32 without rounding`);
  }
  return Int32Array.from(data as Exclude<TypedArray, BigInt64Array>);
}

/**
 * Converts the dtypes JavaScript and tfjs cannot use directly: F16 and BF16 become F32 (`Float32Array`), I64
 * becomes I32 (`Int32Array`, range-checked, see {@link toInt32}). Other tensors are returned unchanged.
 */
export function convertTensor(raw: RawTensor, name = 'tensor'): RawTensor {
  if (raw.dtype === 'F16' || raw.dtype === 'BF16') return { dtype: 'F32', shape: raw.shape, data: toFloat32(raw) };
  if (raw.dtype === 'I64') return { dtype: 'I32', shape: raw.shape, data: toInt32(raw, name) };
  return raw;
}

/** Floating-point dtypes a tensor can be cast to with {@link castTensor}. */
export type FloatDType = 'F32' | 'F16' | 'BF16';

/**
 * Casts a floating-point tensor to F32, F16 or BF16 (rounding to nearest even; values beyond F16's range become
 * ±Infinity, as PyTorch's `.half()`). Integer and BOOL tensors are returned unchanged, as is a tensor already of
 * that dtype. Readers upcast F16/BF16 to F32 again ({@link convertTensor}), so this halves a file's size only.
 */
export function castTensor(raw: RawTensor, dtype: FloatDType): RawTensor {
  if (raw.dtype === dtype || !(raw.dtype === 'F64' || raw.dtype === 'F32' || raw.dtype === 'F16' || raw.dtype === 'BF16')) return raw;
  const values = toFloat32(raw);
  if (dtype === 'F32') return { dtype, shape: raw.shape, data: raw.dtype === 'F32' ? values : Float32Array.from(values) };
  const out = new Uint16Array(values.length);
  const encode = dtype === 'F16' ? numberToHalf : numberToBFloat16;
  for (let i = 0; i < values.length; i++) out[i] = encode(values[i]);
  return { dtype, shape: raw.shape, data: out };
}
