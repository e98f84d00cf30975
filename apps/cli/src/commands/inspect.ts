import { findStateDict, type RawTensor } from '@svg/weights';
import { readCheckpointFile } from '@svg/weights/node';
import { CliError } from '../cli-error';
import { defineCommand } from '../command';
import { requireFile } from '../files';
import { detectModel } from '../detect';
import { printable } from '../printable';

export const inspect = defineCommand({
  name: 'inspect',
  summary: 'list the tensors of a checkpoint and say which model (and preset) it holds',
  usage: 'svg inspect <file.safetensors|.pth|.pt|.ckpt> [--all]',
  examples: ['svg inspect dit-xl.safetensors', 'svg inspect last.ckpt --all'],
  options: { all: { type: 'boolean' } },
  optionHelp: { all: 'list every tensor (default: the first 40)' },
  async run({ values, positionals }) {
    const [input] = positionals;
    if (!input || positionals.length > 1) throw new CliError('expected one checkpoint file (see: svg inspect --help)');
    requireFile(input, 'checkpoint');
    let sd: Map<string, RawTensor>;
    try {
      sd = findStateDict(await readCheckpointFile(input));
    } catch (e) {
      const message = (e as Error).message;
      throw new CliError(message.startsWith(input) ? message : `${input}: ${message}`);
    }
    const entries = [...sd.entries()].map(([name, t]) => [printable(name), t] as const);
    const limit = values.all ? entries.length : 40;
    const width = Math.min(70, entries.reduce((w, [k]) => Math.max(w, k.length), 0));
    for (const [name, t] of entries.slice(0, limit)) console.log(`${name.padEnd(width)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]`);
    if (entries.length > limit) console.log(`... ${entries.length - limit} more (--all to list them)`);
    const params = entries.reduce((n, [, t]) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    console.log(`${entries.length} tensors, ${(params / 1e6).toFixed(2)} M values`);
    let model: string;
    try {
      model = detectModel(sd);
    } catch (e) {
      model = `not recognised (${(e as Error).message.split('\n')[0]})`;
    }
    console.log(`model: ${printable(model)}`);
  },
});

