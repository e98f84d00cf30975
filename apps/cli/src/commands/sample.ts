import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '@svg/weights/node';
import { dirname, join } from 'node:path';
import { ClassLookupError, encodePng, findClass } from '@svg/data-imagenet';
import { loadDiTFile } from '@svg/dit/node';
import { type LatentStats, SAMPLE_DEFAULTS, SOLVERS, loadLatentStats, parseCfgMode } from '@svg/flow';
import { type GenerateOptions, type GeneratedImage, type ModelManifest, findClassName, generateImages, generationSettings, imageGrid } from '@svg/generate';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption, numberOption, requireString } from '../command';
import { requireFile } from '../files';
import { DEFAULT_MODEL_DIR, autoencoderHelp, autoencoderOptions, loadAutoencoderOption, loadModelFolder, readModelManifest, readStatsFile, timedLoad } from '../models';
import { ProgressBar } from '../progress';

/** The class labels of sample_svg.py. */
export const OFFICIAL_CLASSES = [130, 270, 284, 688, 250, 146, 980, 484, 207, 360, 387, 974, 88, 979, 417, 279];

export const sampleCommand = defineCommand({
  name: 'sample',
  summary: 'generate class-conditional images with a DiT and the autoencoder decoder (the official procedure)',
  usage: 'svg sample [--model <dir> | --dit <ckpt> --autoencoder <ckpt>] [--classes 207,360 | --class-names "golden retriever"] [options]',
  examples: [
    'svg sample --out grid.png                  # the shipped Fashion-MNIST SVG: one image per class',
    'svg sample --class-names "sneaker,bag" --seed 3 --out-dir shoes',
    'svg sample --dit dit-xl.safetensors --autoencoder svg-autoencoder.safetensors --classes 207,360 --out grid.png',
    'svg sample --dit 0400000.pt --autoencoder last.ckpt --config example_svg_autoencoder_vitsp.yaml --class-names "golden retriever,tabby cat" --out-dir samples',
    'svg sample --dit dit.safetensors --autoencoder ae.safetensors --sampler heun --steps 50 --cfg-mode late --seed 7',
  ],
  options: {
    model: { type: 'string' },
    dit: { type: 'string' },
    ...autoencoderOptions,
    stats: { type: 'string' },
    'no-stats': { type: 'boolean' },
    classes: { type: 'string' },
    'class-names': { type: 'string' },
    steps: { type: 'string' },
    cfg: { type: 'string' },
    shift: { type: 'string' },
    sampler: { type: 'string' },
    'cfg-mode': { type: 'string' },
    'guidance-interval': { type: 'string' },
    seed: { type: 'string', default: '0' },
    batch: { type: 'string', default: '4' },
    out: { type: 'string', default: 'samples.png' },
    scale: { type: 'string', default: '1' },
    'out-dir': { type: 'string' },
    ...backendOption,
  },
  optionHelp: {
    model: 'a model folder (svg-model.json + weights); the default when no --dit is given is the shipped Fashion-MNIST SVG',
    dit: 'DiT checkpoint (converted safetensors, or the official .pt with {"ema": ...})',
    ...autoencoderHelp,
    stats: 'latent statistics safetensors (default: the official dinov3_sp_stats, shipped in @svg/flow)',
    'no-stats': 'the DiT was trained without feature normalisation',
    classes: `class indices, comma-separated (default: every class of a model folder; for ImageNet DiTs sample_svg.py's 16: ${OFFICIAL_CLASSES.join(',')})`,
    'class-names': "class names (a model folder's, or ImageNet names and WordNet ids), comma-separated",
    steps: "sampling steps (default: the model folder's, else 25)",
    cfg: "classifier-free guidance scale (default: the model folder's, else 4; 1 turns guidance off)",
    shift: "timestep shift of the time grid (default: the model folder's, else 0.15)",
    sampler: `${Object.keys(SOLVERS).join(' | ')} (default euler)`,
    'cfg-mode': 'constant | late | linear | early-X | cfg_star-N-R (default constant)',
    'guidance-interval': 'apply guidance only for t in lo,hi (e.g. 0.1,0.9)',
    seed: 'image i uses noise seed seed+i (default 0)',
    batch: 'images per forward pass (default 4)',
    out: 'grid PNG, 4 images per row (default samples.png)',
    'out-dir': 'also write one PNG per image into this folder',
    scale: 'enlarge the grid PNG this many times, nearest neighbour (default 1; e.g. 4 for 32×32 samples)',
    ...backendHelp,
  },
  async run({ values }) {
    const useModel = values.dit === undefined;
    if (useModel && (values.autoencoder !== undefined || values.config !== undefined)) throw new CliError('--autoencoder/--config go with --dit; a model folder (--model) brings its own');
    if (!useModel && values.model !== undefined) throw new CliError('give --model or --dit, not both');
    const modelDir = useModel ? ((values.model as string | undefined) ?? DEFAULT_MODEL_DIR) : null;
    const batch = intOption(values, 'batch', 1, 1024)!;
    const scale = intOption(values, 'scale', 1, 64)!;
    const seed = intOption(values, 'seed', 0, Number.MAX_SAFE_INTEGER)!;
    const sampler = (values.sampler as string | undefined) ?? SAMPLE_DEFAULTS.mode;
    if (!(sampler in SOLVERS)) throw new CliError(`--sampler must be one of ${Object.keys(SOLVERS).join(', ')}, got "${sampler}"`);
    const cfgMode = (values['cfg-mode'] as string | undefined) ?? SAMPLE_DEFAULTS.cfgMode;
    try {
      parseCfgMode(cfgMode);
    } catch (e) {
      throw new CliError(`--cfg-mode: ${(e as Error).message}`);
    }
    const explicit = { steps: intOption(values, 'steps', 1, 10_000), cfg: numberOption(values, 'cfg'), shift: numberOption(values, 'shift') };
    const guidanceInterval = parseInterval(values['guidance-interval'] as string | undefined);
    const out = values.out as string;
    const outDir = values['out-dir'] as string | undefined;
    const ditPath = useModel ? null : requireFile(requireString(values, 'dit', 'sample'), 'DiT checkpoint');
    const aePath = useModel ? null : requireString(values, 'autoencoder', 'sample');
    // Output folders first: a missing folder must not cost a whole sampling run.
    await mkdir(dirname(out), { recursive: true });
    if (outDir) await mkdir(outDir, { recursive: true });

    const manifest: ModelManifest | null = modelDir ? await readModelManifest(modelDir) : null;
    const classes = parseClasses(values.classes as string | undefined, values['class-names'] as string | undefined, manifest);

    await startBackend(values.backend);
    let dit, decoder, stats: LatentStats | null;
    if (modelDir) {
      ({ dit, autoencoder: decoder, stats } = await loadModelFolder(modelDir));
    } else {
      dit = await timedLoad('DiT', ditPath!, () => loadDiTFile(ditPath!));
      decoder = await loadAutoencoderOption(values, 'sample', true);
      stats = values['no-stats'] ? null : values.stats ? await readStatsFile(values.stats as string) : loadLatentStats();
    }
    if (classes.some((c) => c >= dit.config.numClasses)) {
      throw new CliError(`class index ${Math.max(...classes)} is out of range: this DiT knows ${dit.config.numClasses} classes`);
    }
    const defaults = { ...SAMPLE_DEFAULTS, ...(manifest?.sampling ?? {}) };
    const settings = {
      steps: explicit.steps ?? defaults.steps,
      cfg: explicit.cfg ?? defaults.cfg,
      shift: explicit.shift ?? defaults.shift,
      mode: sampler as GenerateOptions['mode'],
      cfgMode,
      guidanceInterval,
    };
    const className = (k: number) => (manifest ? manifest.classes[k] : findClass(k).name);

    const images: GeneratedImage[] = [];
    const bar = new ProgressBar('sampling', Math.ceil(classes.length / batch) * settings.steps, 'step');
    for (let start = 0; start < classes.length; start += batch) {
      const done = (start / batch) * settings.steps;
      const chunk = await generateImages({
        dit, decoder, stats, classes: classes.slice(start, start + batch), seed: seed + start, ...settings,
        onStep: ({ step }) => bar.update(done + step),
      });
      images.push(...chunk);
    }
    const source: Record<string, string> = modelDir ? { model: manifest!.name } : { dit: ditPath!, autoencoder: aePath! };
    const text = { software: 'svg-ts', ...generationSettings({ dit, decoder, stats, classes, ...settings }), ...source };
    const grid = imageGrid(images, { columns: classes.length <= 10 ? classes.length : Math.ceil(Math.sqrt(classes.length)), scale });
    const names = classes.map(className).join(', ');
    await writeFileAtomic(out, await encodePng({ ...grid, channels: 3 }, { ...text, classes: classes.join(','), 'class names': names, seed: String(seed) }));
    console.log(`wrote ${out} (${images.length} images, ${grid.width}×${grid.height}): ${names}`);
    if (outDir) {
      for (const [i, im] of images.entries()) {
        const name = join(outDir, `${String(i).padStart(3, '0')}_class${im.classIndex}_seed${im.seed}.png`);
        await writeFileAtomic(name, await encodePng({ ...im, channels: 3 }, { ...text, class: `${im.classIndex} ${className(im.classIndex)}`, seed: String(im.seed) }));
      }
      console.log(`wrote ${images.length} images to ${outDir}`);
    }
  },
});

function parseClasses(indices: string | undefined, names: string | undefined, manifest: ModelManifest | null): number[] {
  if (indices && names) throw new CliError('give --classes or --class-names, not both');
  const items = (indices ?? names)?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items) return manifest ? manifest.classes.map((_, k) => k) : OFFICIAL_CLASSES;
  if (items.length === 0) throw new CliError('no classes given');
  return items.map((item) => {
    if (indices && !/^\d+$/.test(item)) throw new CliError(`--classes takes indices; "${item}" is not one (use --class-names for names)`);
    if (manifest) {
      const k = indices ? Number(item) : findClassName(manifest, item);
      if (k < 0 || k >= manifest.classes.length) throw new CliError(`${indices ? 'class index' : 'class'} "${item}" is not one of the model's classes: ${manifest.classes.join(', ')}`);
      return k;
    }
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
