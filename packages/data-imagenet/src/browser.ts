/**
 * Image decoding with the web platform's decoders (`createImageBitmap` + `OffscreenCanvas`), for browsers and
 * workers. Only touches those globals when called, so importing it anywhere is safe. Unlike the Node path
 * (sharp, identical to Pillow) the pixels depend on the browser's decoder and the canvas (which stores
 * premultiplied alpha), so they may differ from Pillow's by a few levels; the crop itself is the same code.
 */
import { centerCropArr } from './crop';
import { type RgbImage, toRgb } from './image';

/** What {@link decodeImageInBrowser} accepts: encoded bytes (JPEG, PNG, WebP, ...) or an already decoded bitmap. */
export type BrowserImageSource = Blob | ArrayBuffer | Uint8Array | ImageBitmap;

/**
 * Decodes an image to 8-bit RGB in a browser or web worker, ignoring EXIF orientation and colour profiles
 * (as Pillow does) and dropping alpha.
 */
export async function decodeImageInBrowser(source: BrowserImageSource): Promise<RgbImage> {
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') {
    throw new Error('decodeImageInBrowser needs createImageBitmap and OffscreenCanvas (in Node use decodeImage from @svg/data-imagenet/node)');
  }
  const bitmap =
    typeof ImageBitmap !== 'undefined' && source instanceof ImageBitmap
      ? source
      : await createImageBitmap(source instanceof Blob ? source : new Blob([source as BlobPart]), {
          colorSpaceConversion: 'none',
          premultiplyAlpha: 'none',
          imageOrientation: 'none',
        });
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2d context on OffscreenCanvas');
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, width, height);
  if (bitmap !== source) bitmap.close();
  return toRgb(data, width, height, 4);
}

/** Decodes and ADM-centre-crops an image in the browser (see {@link centerCropArr}). */
export async function loadCenterCropInBrowser(source: BrowserImageSource, size = 256): Promise<RgbImage> {
  return centerCropArr(await decodeImageInBrowser(source), size);
}
