import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { type FloatDType, castTensor, findStateDict, isStateDict, stripPrefix, WeightsFormatError } from '@svg/weights';
import { readCheckpointFile, writeSafetensorsFile } from '@svg/weights/node';
import { CliError } from '../cli-error';
import { defineCommand } from '../command';
import { requireFile } from '../files';

export const convert = defineCommand({
  name: 'convert',
  summary: 'convert an official PyTorch checkpoint (.pth/.pt/.ckpt) to safetensors, without Python',
  usage: 'svg convert <in.pth|.pt|.ckpt|.safetensors> <out.safetensors> [--key ema|state_dict|model] [--strip-prefix module.] [--dtype f16]',
  examples: [
    'svg convert dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth dinov3_vits16plus.safetensors',
    'svg convert 0400000.pt dit-xl.safetensors --key ema',
    'svg convert last.ckpt svg-autoencoder.safetensors --key state_dict',
    'svg convert dit-xl.safetensors dit-xl-f16.safetensors --dtype f16      # half the download; loaders upcast to float32',
  ],
  options: {
    key: { type: 'string' },
    'strip-prefix': { type: 'string', multiple: true },
    dtype: { type: 'string' },
  },
  optionHelp: {
    key: 'which entry holds the weights (default: ema, then state_dict, then model)',
    'strip-prefix': 'remove this key prefix when every key has it (repeatable; default module. and model.)',
    dtype: 'store floating-point tensors as f32, f16 or bf16 (default: as they are)',
  },
  async run({ values, positionals }) {
    const [input, output] = positionals;
    if (!input || !output || positionals.length > 2) throw new CliError('expected <input checkpoint> <output.safetensors> (see: svg convert --help)');
    requireFile(input, 'checkpoint');
    if (!output.endsWith('.safetensors')) throw new CliError(`output must end in .safetensors: ${output}`);
    await mkdir(dirname(output), { recursive: true });
    const dtypeName = values.dtype as string | undefined;
    const dtypes: Record<string, FloatDType> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };
    if (dtypeName !== undefined && !(dtypeName.toLowerCase() in dtypes)) throw new CliError(`--dtype must be f32, f16 or bf16, got "${dtypeName}"`);
    const dtype = dtypeName === undefined ? undefined : dtypes[dtypeName.toLowerCase()];
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
      sd = key ? stateDictAtKey(checkpoint, key) : findStateDict(checkpoint);
    } catch (e) {
      throw new CliError(`${input}: ${(e as Error).message}`);
    }
    const prefixes = (values['strip-prefix'] as string[] | undefined) ?? ['module.', 'model.'];
    sd = stripPrefix(sd, prefixes);
    if (dtype) sd = new Map([...sd].map(([k, t]) => [k, castTensor(t, dtype)]));
    await writeSafetensorsFile(output, sd, { format: 'pt', source: basename(input), converter: 'svg-ts' });
    const bytes = [...sd.values()].reduce((n, t) => n + t.data.byteLength, 0);
    console.log(`wrote ${output}: ${sd.size} tensors, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  },
});

function entriesOf(x: unknown): [string, unknown][] | null {
  if (x instanceof Map) return [...x.entries()].map(([k, v]) => [String(k), v]);
  if (typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) && Object.getPrototypeOf(x) === Object.prototype) return Object.entries(x);
  return null;
}

/**
 * The state dict under an explicitly named `--key`: the entry of that name (at the top level, else in a nested
 * dict, as `{model: {state_dict: ...}}`), never a silent fallback to another entry or to the whole file.
 */
function stateDictAtKey(checkpoint: unknown, key: string): ReturnType<typeof findStateDict> {
  const top = entriesOf(checkpoint);
  if (isStateDict(checkpoint)) throw new CliError(`--key ${key}: the file is a plain state dict (${top?.length ?? 0} tensors, no entries to choose from): leave out --key`);
  const find = (x: unknown, depth: number): { value: unknown } | null => {
    const entries = entriesOf(x);
    if (!entries || depth > 4 || isStateDict(x)) return null;
    const hit = entries.find(([k]) => k === key);
    if (hit) return { value: hit[1] };
    for (const [, v] of entries) {
      const inner = find(v, depth + 1);
      if (inner) return inner;
    }
    return null;
  };
  const found = find(checkpoint, 0);
  if (!found) throw new CliError(`no entry "${key}" for --key (the file holds: ${top?.map(([k]) => k).join(', ') || 'no named entries'})`);
  try {
    return findStateDict(found.value);
  } catch {
    throw new CliError(`entry "${key}" holds no tensors (the file holds: ${top?.map(([k]) => k).join(', ')})`);
  }
}
