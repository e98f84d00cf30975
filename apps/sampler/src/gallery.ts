/**
 * The gallery: one card per generated image with its settings, a PNG download (settings in its text chunks),
 * "same seed again", and a click-to-enlarge view.
 */
import { encodePng } from '@svg/data-imagenet';
import type { GalleryItem } from './generate';

/** Draws 8-bit RGB pixels into a canvas of the image's size. */
export function drawRgb(canvas: HTMLCanvasElement, image: { width: number; height: number; pixels: Uint8Array }): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const rgba = new ImageData(image.width, image.height);
  for (let i = 0, j = 0; i < image.pixels.length; i += 3, j += 4) {
    rgba.data[j] = image.pixels[i];
    rgba.data[j + 1] = image.pixels[i + 1];
    rgba.data[j + 2] = image.pixels[i + 2];
    rgba.data[j + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
}

export function describeSettings(item: GalleryItem): string {
  const s = item.settings;
  const name = item.text.class?.replace(/^\d+\s*/, '') || `class ${item.classIndex}`;
  const cfg = s.cfg === 1 ? 'no CFG' : `CFG ${s.cfg} ${s.cfgMode}`;
  return `${name} (${item.classIndex}) · seed ${item.seed} · ${s.steps} ${s.sampler} steps · ${cfg} · shift ${s.shift} · ${item.backend}`;
}

export class Gallery {
  private readonly urls: string[] = [];

  constructor(
    private readonly list: HTMLElement,
    private readonly dialog: HTMLDialogElement,
    private readonly onSameSeed: (item: GalleryItem) => void,
  ) {
    dialog.addEventListener('click', (e) => {
      if (e.target === dialog) dialog.close();
    });
  }

  /** Adds images to the top of the gallery. */
  async add(items: GalleryItem[]): Promise<void> {
    for (const item of [...items].reverse()) this.list.prepend(await this.card(item));
  }

  private async card(item: GalleryItem): Promise<HTMLElement> {
    const png = await encodePng({ width: item.width, height: item.height, channels: 3, pixels: item.pixels }, item.text);
    const url = URL.createObjectURL(new Blob([png as BlobPart], { type: 'image/png' }));
    this.urls.push(url);
    const card = document.createElement('figure');
    card.className = 'card';
    card.dataset.seed = String(item.seed);
    card.dataset.class = String(item.classIndex);
    const canvas = document.createElement('canvas');
    drawRgb(canvas, item);
    canvas.title = 'click to enlarge';
    canvas.addEventListener('click', () => this.enlarge(item, url));
    const caption = document.createElement('figcaption');
    caption.textContent = describeSettings(item);
    const download = document.createElement('a');
    download.className = 'button download';
    download.href = url;
    download.download = `svg-${item.classIndex}-seed${item.seed}.png`;
    download.textContent = 'Download PNG';
    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'same-seed';
    again.textContent = 'Same seed again';
    again.addEventListener('click', () => this.onSameSeed(item));
    const actions = document.createElement('div');
    actions.className = 'actions';
    actions.append(download, again);
    card.append(canvas, caption, actions);
    return card;
  }

  private enlarge(item: GalleryItem, url: string): void {
    const img = document.createElement('img');
    img.src = url;
    img.alt = describeSettings(item);
    const caption = document.createElement('p');
    caption.textContent = describeSettings(item);
    this.dialog.replaceChildren(img, caption);
    this.dialog.showModal();
  }

  clear(): void {
    this.list.replaceChildren();
    for (const url of this.urls.splice(0)) URL.revokeObjectURL(url);
  }
}
