import type { backend_util } from '@tensorflow/tfjs-core';
import { sgemm } from './addon';
import { scratchBuffer } from './im2col';

type ConvInfo = backend_util.Conv2DInfo;

/** Float budget of the two band buffers (32 MiB in all). */
const BAND_FLOATS = 1 << 23;

/** Stride 1 and no dilation: the convs `shiftedConv` computes (1×1 ones are plain products already). */
export function isShiftable(info: ConvInfo): boolean {
  return info.strideHeight === 1 && info.strideWidth === 1 && info.dilationHeight === 1 && info.dilationWidth === 1 && info.filterHeight * info.filterWidth > 1;
}

/**
 * A stride-1 conv as one sgemm per filter tap over the zero-padded input, without im2col. With the padded input
 * flattened to pixels of a row width Wp = OW + FW − 1, output pixel (oy, ox) reads tap (fy, fx) at pixel
 * (oy + fy)·Wp + ox + fx: so the tap's contribution to every output pixel is one [pixels, in]·[in, out] product of
 * the padded input shifted by fy·Wp + fx pixels. The FW − 1 extra columns of each output row are computed and dropped.
 * Works in bands of output rows whose two buffers fit `bandFloats` floats (32 MiB). `y += …` when beta is 1 (y holds
 * the bias), else `y = …`.
 */
export function shiftedConv(x: Float32Array, filter: Float32Array, y: Float32Array, info: ConvInfo, beta: number, bandFloats = BAND_FLOATS): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: N } = info;
  const { filterHeight: FH, filterWidth: FW } = info;
  const { top, left } = info.padInfo;
  const Wp = OW + FW - 1;
  const rowsPerBand = Math.max(1, Math.min(OH, Math.floor((bandFloats - FH * Wp * C) / (Wp * (C + N)))));
  const padded = scratchBuffer((rowsPerBand + FH) * Wp * C, 0);
  const ext = scratchBuffer(rowsPerBand * Wp * N, 1);
  // Input columns that land inside the padded row, and where.
  const ix0 = Math.max(0, -left);
  const ix1 = Math.min(W, Wp - left);
  for (let b = 0; b < B; b++) {
    for (let oy0 = 0; oy0 < OH; oy0 += rowsPerBand) {
      const rows = Math.min(rowsPerBand, OH - oy0);
      // Padded input rows oy0 … oy0 + rows + FH − 1 (the last one only feeds the dropped columns: zeros).
      for (let pr = 0; pr < rows + FH; pr++) {
        const dst = pr * Wp * C;
        const iy = oy0 + pr - top;
        if (iy < 0 || iy >= H || pr === rows + FH - 1 || ix1 <= ix0) {
          padded.fill(0, dst, dst + Wp * C);
          continue;
        }
        const src = ((b * H + iy) * W) * C;
        const at = dst + (ix0 + left) * C;
        padded.fill(0, dst, at);
        padded.set(x.subarray(src + ix0 * C, src + ix1 * C), at);
        padded.fill(0, at + (ix1 - ix0) * C, dst + Wp * C);
      }
      const out = ext.subarray(0, rows * Wp * N);
      const yRow = (i: number) => ((b * OH + oy0 + i) * OW) * N;
      if (beta) for (let i = 0; i < rows; i++) out.set(y.subarray(yRow(i), yRow(i) + OW * N), i * Wp * N);
      for (let fy = 0, tap = 0; fy < FH; fy++) {
        for (let fx = 0; fx < FW; fx++, tap++) {
          const shift = (fy * Wp + fx) * C;
          const w = filter.subarray(tap * C * N, (tap + 1) * C * N);
          sgemm(padded.subarray(shift, shift + rows * Wp * C), w, out, 1, rows * Wp, N, C, false, false, 0, 0, tap === 0 && !beta ? 0 : 1);
        }
      }
      for (let i = 0; i < rows; i++) y.set(out.subarray(i * Wp * N, i * Wp * N + OW * N), yRow(i));
    }
  }
}
