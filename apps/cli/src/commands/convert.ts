import { basename } from 'node:path';
import { findStateDict, stripPrefix, WeightsFormatError } from '@svg/weights';
import { readCheckpointFile, writeSafetensorsFile } from '@svg/weights/node';
import { CliError } from '../cli-error';
import { defineCommand } from '../command';
import { requireFile } from '../files';

export const convert = defineCommand({
  name: 'convert',
  summary: 'convert an official PyTorch checkpoint (.pth/.pt/.ckpt) to safetensors, without Python',
  usage: 'svg convert <in.pth|.pt|.ckpt> <out.safetensors> [--key ema|state_dict|model] [--strip-prefix module.]',
  examples: [
    'svg convert dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth dinov3_vits16plus.safetensors',
    'svg convert 0400000.pt dit-xl.safetensors --key ema',
    'svg convert last.ckpt svg-autoencoder.safetensors --key state_dict',
  ],
  options: {
    key: { type: 'string' },
    'strip-prefix': { type: 'string', multiple: true },
  },
  optionHelp: {
    key: 'which entry holds the weights (default: ema, then state_dict, then model)',
    'strip-prefix': 'remove this key prefix when every key has it (repeatable; default module. and model.)',
  },
  async run({ values, positionals }) {
    const [input, output] = positionals;
    if (!input || !output || positionals.length > 2) throw new CliError('expected <input checkpoint> <output.safetensors> (see: svg convert --help)');
    requireFile(input, 'checkpoint');
    if (!output.endsWith('.safetensors')) throw new CliError(`output must end in .safetensors: ${output}`);
    let checkpoint: unknown;
    try {
      checkpoint = await readCheckpointFile(input);
    } catch (e) {
      if (e instanceof WeightsFormatError) throw new CliError(e.message);
      throw e;
    }
    const key = values.key as string | undefined;
    let sd;
    try {
      sd = findStateDict(checkpoint, key ? [key] : undefined);
    } catch (e) {
      throw new CliError(`${input}: ${(e as Error).message}`);
    }
    const prefixes = (values['strip-prefix'] as string[] | undefined) ?? ['module.', 'model.'];
    sd = stripPrefix(sd, prefixes);
    await writeSafetensorsFile(output, sd, { format: 'pt', source: basename(input), converter: 'svg-ts' });
    const bytes = [...sd.values()].reduce((n, t) => n + t.data.byteLength, 0);
    console.log(`wrote ${output}: ${sd.size} tensors, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  },
});

