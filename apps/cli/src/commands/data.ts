import { join } from 'node:path';
import { loadFashionMnist, writeFashionMnistFolders } from '@svg/train';
import { NpzFileWriter } from '@svg/weights/node';
import { CliError } from '../cli-error';
import { defineCommand, intOption } from '../command';
import { ProgressBar } from '../progress';

export const dataCommand = defineCommand({
  name: 'data',
  summary: 'write a data set as image folders (svg data fashion-mnist: 32×32 PNGs per class, train and test)',
  usage: 'svg data fashion-mnist [--out <dir>] [--source <idx-folder>] [--size 32] [--npz]',
  examples: ['svg data fashion-mnist --out data/fashion-mnist', 'svg data fashion-mnist --npz --out data/fashion-mnist   # train.npz, test.npz: reference batches for svg eval --ref', 'svg stats data/fashion-mnist/train --autoencoder ae.safetensors --config ae.yaml'],
  options: { npz: { type: 'boolean' }, out: { type: 'string', default: 'data/fashion-mnist' }, source: { type: 'string' }, size: { type: 'string', default: '32' }, limit: { type: 'string' } },
  optionHelp: {
    out: 'output folder: <out>/train/<k>-<class>/*.png and <out>/test/... (default data/fashion-mnist)',
    source: 'folder of the IDX files (default /usr/share/datasets/fashion-mnist, Debian dataset-fashion-mnist)',
    size: 'side of the black canvas each 28×28 image is centred on (default 32)',
    limit: 'only the first N images of each split',
    npz: 'write <out>/train.npz and <out>/test.npz instead (ADM batch layout: arr_0 uint8 [N, size, size, 3], arr_1 int64 labels)',
  },
  async run({ values, positionals }) {
    if (positionals.length !== 1 || positionals[0] !== 'fashion-mnist') throw new CliError('expected "svg data fashion-mnist" (the one data set this command writes)');
    const size = intOption(values, 'size', 28, 4096)!;
    if (values.npz) return writeNpzSplits(values.out as string, values.source as string | undefined, size, intOption(values, 'limit', 1));
    const bars = new Map<number, ProgressBar>();
    try {
      const results = await writeFashionMnistFolders(values.out as string, {
        dir: values.source as string | undefined,
        size,
        limit: intOption(values, 'limit', 1),
        onProgress: (done, total) => {
          if (!bars.has(total)) bars.set(total, new ProgressBar(`split ${bars.size + 1}/2`, total, 'img'));
          bars.get(total)!.update(done);
        },
      });
      for (const r of results) console.log(`${r.path}: ${r.images} images${r.written ? '' : ' (already there, kept)'}`);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  },
});

/** Each split as an ADM-layout batch: the 28×28 images centred on a black size² canvas, grey copied to RGB. */
async function writeNpzSplits(out: string, source: string | undefined, size: number, limit: number | undefined): Promise<void> {
  for (const split of ['train', 'test'] as const) {
    let data;
    try {
      data = await loadFashionMnist(source, split, limit);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    const { count, height: h, width: w } = data;
    const top = Math.floor((size - h) / 2);
    const left = Math.floor((size - w) / 2);
    const images = new Uint8Array(count * size * size * 3);
    for (let i = 0; i < count; i++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) images.fill(data.pixels[(i * h + y) * w + x], ((i * size + top + y) * size + left + x) * 3, ((i * size + top + y) * size + left + x + 1) * 3);
      }
    }
    const path = join(out, `${split}.npz`);
    const writer = await NpzFileWriter.create(path, [
      { name: 'arr_0', dtype: 'U8', shape: [count, size, size, 3] },
      { name: 'arr_1', dtype: 'I64', shape: [count] },
    ]);
    await writer.writeRows('arr_0', 0, images);
    await writer.writeRows('arr_1', 0, BigInt64Array.from(data.labels, (c) => BigInt(c)));
    await writer.finish();
    console.log(`${path}: ${count} images ${size}×${size}`);
  }
}
