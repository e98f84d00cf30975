import { writeFashionMnistFolders } from '@svg/train';
import { CliError } from '../cli-error';
import { defineCommand, intOption } from '../command';
import { ProgressBar } from '../progress';

export const dataCommand = defineCommand({
  name: 'data',
  summary: 'write a data set as image folders (svg data fashion-mnist: 32×32 PNGs per class, train and test)',
  usage: 'svg data fashion-mnist [--out <dir>] [--source <idx-folder>] [--size 32]',
  examples: ['svg data fashion-mnist --out data/fashion-mnist', 'svg stats data/fashion-mnist/train --autoencoder ae.safetensors --config ae.yaml'],
  options: { out: { type: 'string', default: 'data/fashion-mnist' }, source: { type: 'string' }, size: { type: 'string', default: '32' }, limit: { type: 'string' } },
  optionHelp: {
    out: 'output folder: <out>/train/<k>-<class>/*.png and <out>/test/... (default data/fashion-mnist)',
    source: 'folder of the IDX files (default /usr/share/datasets/fashion-mnist, Debian dataset-fashion-mnist)',
    size: 'side of the black canvas each 28×28 image is centred on (default 32)',
    limit: 'only the first N images of each split',
  },
  async run({ values, positionals }) {
    if (positionals.length !== 1 || positionals[0] !== 'fashion-mnist') throw new CliError('expected "svg data fashion-mnist" (the one data set this command writes)');
    const size = intOption(values, 'size', 28, 4096)!;
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
