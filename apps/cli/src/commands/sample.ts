import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassLookupError, encodePng, findClass } from '@svg/data-imagenet';
import { loadDiTFile } from '@svg/dit/node';
import { type LatentStats, SOLVERS, loadLatentStats, parseCfgMode } from '@svg/flow';
import { type GenerateOptions, type GeneratedImage, generateImages, generationSettings, imageGrid } from '@svg/generate';
import { readSafetensorsFile } from '@svg/weights/node';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption, numberOption, requireString } from '../command';
import { requireFile } from '../files';
import { autoencoderHelp, autoencoderOptions, loadAutoencoderOption, timedLoad } from '../models';
import { ProgressBar } from '../progress';

/** The class labels of sample_svg.py. */
export const OFFICIAL_CLASSES = [130, 270, 284, 688, 250, 146, 980, 484, 207, 360, 387, 974, 88, 979, 417, 279];

export const sampleCommand = defineCommand({
  name: 'sample',
  summary: 'generate class-conditional images with a DiT and the autoencoder decoder (the official procedure)',
  usage: 'svg sample --dit <ckpt> --autoencoder <ckpt> [--classes 207,360 | --class-names "golden retriever"] [options]',
  examples: [
    'svg sample --dit dit-xl.safetensors --autoencoder svg-autoencoder.safetensors --classes 207,360 --out grid.png',
    'svg sample --dit 0400000.pt --autoencoder last.ckpt --config example_svg_autoencoder_vitsp.yaml --class-names "golden retriever,tabby cat" --out-dir samples',
    'svg sample --dit dit.safetensors --autoencoder ae.safetensors --sampler heun --steps 50 --cfg-mode late --seed 7',
  ],
  options: {
    dit: { type: 'string' },
    ...autoencoderOptions,
    stats: { type: 'string' },
    'no-stats': { type: 'boolean' },
    classes: { type: 'string' },
    'class-names': { type: 'string' },
    steps: { type: 'string', default: '25' },
    cfg: { type: 'string', default: '4' },
    shift: { type: 'string', default: '0.15' },
    sampler: { type: 'string', default: 'euler' },
    'cfg-mode': { type: 'string', default: 'constant' },
    'guidance-interval': { type: 'string' },
    seed: { type: 'string', default: '0' },
    batch: { type: 'string', default: '4' },
    out: { type: 'string', default: 'samples.png' },
    'out-dir': { type: 'string' },
    ...backendOption,
  },
  optionHelp: {
    dit: 'DiT checkpoint (converted safetensors, or the official .pt with {"ema": ...})',
    ...autoencoderHelp,
    stats: 'latent statistics safetensors (default: the official dinov3_sp_stats, shipped in @svg/flow)',
    'no-stats': 'the DiT was trained without feature normalisation',
    classes: `ImageNet class indices, comma-separated (default: sample_svg.py's 16: ${OFFICIAL_CLASSES.join(',')})`,
    'class-names': 'ImageNet class names or WordNet ids, comma-separated',
    steps: 'sampling steps (default 25)',
    cfg: 'classifier-free guidance scale (default 4; 1 turns guidance off)',
    shift: 'timestep shift of the time grid (default 0.15)',
    sampler: `${Object.keys(SOLVERS).join(' | ')} (default euler)`,
    'cfg-mode': 'constant | late | linear | early-X | cfg_star-N-R (default constant)',
    'guidance-interval': 'apply guidance only for t in lo,hi (e.g. 0.1,0.9)',
    seed: 'image i uses noise seed seed+i (default 0)',
    batch: 'images per forward pass (default 4)',
    out: 'grid PNG, 4 images per row (default samples.png)',
    'out-dir': 'also write one PNG per image into this folder',
    ...backendHelp,
  },
  async run({ values }) {
    const steps = intOption(values, 'steps', 1, 10_000)!;
    const batch = intOption(values, 'batch', 1, 1024)!;
    const seed = intOption(values, 'seed', 0, Number.MAX_SAFE_INTEGER)!;
    const sampler = values.sampler as string;
    if (!(sampler in SOLVERS)) throw new CliError(`--sampler must be one of ${Object.keys(SOLVERS).join(', ')}, got "${sampler}"`);
    const cfgMode = values['cfg-mode'] as string;
    try {
      parseCfgMode(cfgMode);
    } catch (e) {
      throw new CliError(`--cfg-mode: ${(e as Error).message}`);
    }
    const classes = parseClasses(values.classes as string | undefined, values['class-names'] as string | undefined);
    const ditPath = requireFile(requireString(values, 'dit', 'sample'), 'DiT checkpoint');
    const aePath = requireString(values, 'autoencoder', 'sample');
    const settings = {
      steps,
      cfg: numberOption(values, 'cfg')!,
      shift: numberOption(values, 'shift')!,
      mode: sampler as GenerateOptions['mode'],
      cfgMode,
      guidanceInterval: parseInterval(values['guidance-interval'] as string | undefined),
    };

    await startBackend(values.backend);
    const dit = await timedLoad('DiT', ditPath, () => loadDiTFile(ditPath));
    if (classes.some((c) => c >= dit.config.numClasses)) {
      throw new CliError(`class index ${Math.max(...classes)} is out of range: this DiT knows ${dit.config.numClasses} classes`);
    }
    const decoder = await loadAutoencoderOption(values, 'sample', true);
    const stats = values['no-stats'] ? null : await loadStats(values.stats as string | undefined);

    const images: GeneratedImage[] = [];
    const bar = new ProgressBar('sampling', Math.ceil(classes.length / batch) * steps, 'step');
    for (let start = 0; start < classes.length; start += batch) {
      const done = (start / batch) * steps;
      const chunk = await generateImages({
        dit, decoder, stats, classes: classes.slice(start, start + batch), seed: seed + start, ...settings,
        onStep: ({ step }) => bar.update(done + step),
      });
      images.push(...chunk);
    }
    const text = { software: 'svg-ts', ...generationSettings({ dit, decoder, stats, classes, ...settings }), dit: ditPath, autoencoder: aePath };
    const grid = imageGrid(images);
    await writeFile(values.out as string, await encodePng({ ...grid, channels: 3 }, { ...text, classes: classes.join(','), seed: String(seed) }));
    console.log(`wrote ${values.out} (${images.length} images, ${grid.width}×${grid.height})`);
    const outDir = values['out-dir'] as string | undefined;
    if (outDir) {
      await mkdir(outDir, { recursive: true });
      for (const [i, im] of images.entries()) {
        const name = join(outDir, `${String(i).padStart(3, '0')}_class${im.classIndex}_seed${im.seed}.png`);
        const label = `${im.classIndex} ${findClass(im.classIndex).name}`;
        await writeFile(name, await encodePng({ ...im, channels: 3 }, { ...text, class: label, seed: String(im.seed) }));
      }
      console.log(`wrote ${images.length} images to ${outDir}`);
    }
  },
});

function parseClasses(indices: string | undefined, names: string | undefined): number[] {
  if (indices && names) throw new CliError('give --classes or --class-names, not both');
  const items = (indices ?? names)?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items) return OFFICIAL_CLASSES;
  if (items.length === 0) throw new CliError('no classes given');
  return items.map((item) => {
    if (indices && !/^\d+$/.test(item)) throw new CliError(`--classes takes indices; "${item}" is not one (use --class-names for names)`);
    try {
      return findClass(item).index;
    } catch (e) {
      if (e instanceof ClassLookupError) throw new CliError(e.message);
      throw e;
    }
  });
}

function parseInterval(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map(Number);
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x)) || parts[0] > parts[1]) {
    throw new CliError(`--guidance-interval must be lo,hi with lo <= hi, got "${text}"`);
  }
  return [parts[0], parts[1]];
}

async function loadStats(path: string | undefined): Promise<LatentStats> {
  if (!path) return loadLatentStats();
  requireFile(path, 'statistics file');
  const { tensors } = await readSafetensorsFile(path);
  const mean = tensors.get('dinov3_sp_mean') ?? tensors.get('mean');
  const std = tensors.get('dinov3_sp_std') ?? tensors.get('std');
  if (!mean || !std) throw new CliError(`${path}: expected tensors dinov3_sp_mean and dinov3_sp_std (or mean and std), found ${[...tensors.keys()].join(', ')}`);
  return { mean, std };
}
