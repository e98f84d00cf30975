import { centerCropArr } from './crop';
import { decodeImageFile } from './decode-node';
import { flipHorizontal } from './image';
import { type Layout, type Normalization, writeNormalized } from './normalize';

/** Pixel format of loader output: a float {@link Normalization}, or `uint8` for the raw RGB crop (HWC per image). */
export type PixelFormat = Normalization | 'uint8';

/** One image to prepare: decode, ADM crop, optional flip, normalise. Plain data, so it can cross to a worker. */
export interface ImageJob {
  id: number;
  path: string;
  size: number;
  flip: boolean;
  format: PixelFormat;
  layout: Layout;
}

/** The prepared image (`3·size·size` values in the job's format and layout) or why it could not be read. */
export type ImageJobResult = { id: number; ok: true; pixels: Float32Array | Uint8Array } | { id: number; ok: false; error: string };

/** Runs an {@link ImageJob}; never throws (failures become `ok: false`). */
export async function runImageJob(job: ImageJob): Promise<ImageJobResult> {
  try {
    const crop = centerCropArr(await decodeImageFile(job.path), job.size);
    if (job.format === 'uint8') {
      if (job.layout !== 'nhwc') throw new Error('uint8 output is HWC per image: use layout "nhwc"');
      return { id: job.id, ok: true, pixels: (job.flip ? flipHorizontal(crop) : crop).data };
    }
    const pixels = new Float32Array(3 * job.size * job.size);
    writeNormalized(crop, pixels, 0, { normalization: job.format, layout: job.layout, flip: job.flip });
    return { id: job.id, ok: true, pixels };
  } catch (e) {
    return { id: job.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}
