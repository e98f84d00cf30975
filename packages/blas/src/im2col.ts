import type { backend_util } from '@tensorflow/tfjs-core';

type ConvInfo = backend_util.Conv2DInfo;

/**
 * NHWC im2col: row r of `col` (for output pixel `row0 + r`, counted over batch, outHeight, outWidth) holds the input
 * patch under the filter, ordered (fy, fx, channel) like an HWIO filter reshaped to [fh·fw·in, out]; padding is 0.
 */
export function im2col(x: Float32Array, info: ConvInfo, row0: number, rows: number, col: Float32Array): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW } = info;
  const { strideHeight: SH, strideWidth: SW, dilationHeight: DH, dilationWidth: DW } = info;
  const { top, left } = info.padInfo;
  const rowLen = FW * C;
  let dst = 0;
  for (let row = row0; row < row0 + rows; row++) {
    const b = Math.floor(row / (OH * OW));
    const oy = Math.floor(row / OW) % OH;
    const ox = row % OW;
    const iy0 = oy * SH - top;
    const ix0 = ox * SW - left;
    for (let fy = 0; fy < FH; fy++, dst += rowLen) {
      const iy = iy0 + fy * DH;
      if (iy < 0 || iy >= H) {
        col.fill(0, dst, dst + rowLen);
        continue;
      }
      const src = (b * H + iy) * W;
      if (DW === 1) {
        // One contiguous run of input pixels, clipped at the left and right borders.
        const fx0 = Math.min(Math.max(0, -ix0), FW);
        const fx1 = Math.max(Math.min(FW, W - ix0), fx0);
        if (fx0 > 0) col.fill(0, dst, dst + fx0 * C);
        if (fx1 > fx0) col.set(x.subarray((src + ix0 + fx0) * C, (src + ix0 + fx1) * C), dst + fx0 * C);
        if (fx1 < FW) col.fill(0, dst + fx1 * C, dst + rowLen);
      } else {
        for (let fx = 0; fx < FW; fx++) {
          const ix = ix0 + fx * DW;
          const at = dst + fx * C;
          if (ix < 0 || ix >= W) col.fill(0, at, at + C);
          else col.set(x.subarray((src + ix) * C, (src + ix + 1) * C), at);
        }
      }
    }
  }
}

/** The adjoint of `im2col`: adds each patch row of `col` back onto the input positions it came from. */
export function col2im(col: Float32Array, info: ConvInfo, row0: number, rows: number, dx: Float32Array): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW } = info;
  const { strideHeight: SH, strideWidth: SW, dilationHeight: DH, dilationWidth: DW } = info;
  const { top, left } = info.padInfo;
  let at = 0;
  for (let row = row0; row < row0 + rows; row++) {
    const b = Math.floor(row / (OH * OW));
    const oy = Math.floor(row / OW) % OH;
    const ox = row % OW;
    const iy0 = oy * SH - top;
    const ix0 = ox * SW - left;
    for (let fy = 0; fy < FH; fy++) {
      const iy = iy0 + fy * DH;
      if (iy < 0 || iy >= H) {
        at += FW * C;
        continue;
      }
      const src = (b * H + iy) * W;
      for (let fx = 0; fx < FW; fx++, at += C) {
        const ix = ix0 + fx * DW;
        if (ix < 0 || ix >= W) continue;
        const base = (src + ix) * C;
        for (let c = 0; c < C; c++) dx[base + c] += col[at + c];
      }
    }
  }
}

/** Rows per im2col chunk: the column buffer stays under 32 MiB (at least one row). */
export function chunkRows(rowLength: number, rows: number): number {
  return Math.max(1, Math.min(rows, Math.floor((1 << 23) / Math.max(1, rowLength))));
}

const scratch: Float32Array[] = [];

/** Reused buffer number `slot` (0 or 1) of at least `n` floats: kernels run one at a time, so two suffice. */
export function scratchBuffer(n: number, slot = 0): Float32Array {
  if ((scratch[slot]?.length ?? 0) < n) scratch[slot] = new Float32Array(n);
  return scratch[slot]!;
}
