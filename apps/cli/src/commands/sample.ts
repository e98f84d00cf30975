import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { NpzFileWriter, writeFileAtomic } from '@svg/weights/node';
import { dirname, join } from 'node:path';
import { ClassLookupError, encodePng, findClass } from '@svg/data-imagenet';
import { loadDiTFile } from '@svg/dit/node';
import { type LatentStats, SOLVERS, loadLatentStats } from '@svg/flow';
import { type GenerateOptions, type GeneratedImage, type ModelManifest, SAMPLE_CLASSES_IMAGENET, findClassName, generateImages, generationSettings, imageGrid } from '@svg/generate';
import { startBackend } from '../backend';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption, requireString } from '../command';
import { requireFile, requireFolderName, requireOutputExtension } from '../files';
import { DEFAULT_MODEL_DIR, autoencoderHelp, autoencoderOptions, checkParts, loadAutoencoderOption, loadModelFolder, readModelManifest, readStatsFile, timedLoad } from '../models';
import { ProgressBar } from '../progress';
import { samplerFlags } from '../sampler-flags';

/** The class labels of sample_svg.py. */

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
    'svg sample --num 10000 --npz samples.npz --batch 100   # an ADM sample batch for svg eval (run again to continue)',
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
    num: { type: 'string' },
    npz: { type: 'string' },
    out: { type: 'string' },
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
    classes: `class indices, comma-separated (default: every class of a model folder; for ImageNet DiTs sample_svg.py's 16: ${SAMPLE_CLASSES_IMAGENET.join(',')})`,
    'class-names': "class names (a model folder's, or ImageNet names and WordNet ids), comma-separated",
    steps: "sampling steps (default: the model folder's, else 25)",
    cfg: "classifier-free guidance scale (default: the model folder's, else 4; 1 turns guidance off)",
    shift: "timestep shift of the time grid (default: the model folder's, else 0.15)",
    sampler: `${Object.keys(SOLVERS).join(' | ')} (default euler)`,
    'cfg-mode': 'constant | late | linear | early-X | cfg_star-N-R (default constant)',
    'guidance-interval': 'apply guidance only for t in lo,hi (e.g. 0.1,0.9)',
    seed: 'image i uses noise seed seed+i (default 0)',
    batch: 'images per forward pass (default 4)',
    num: 'sample this many images, cycling through the classes (image i: class i mod classes; default: one per class)',
    npz: 'write the images as an ADM sample batch (arr_0 uint8 [N,H,W,3], arr_1 int64 labels) for svg eval; a killed run continues when run again',
    out: 'grid PNG, 4 images per row (default samples.png; not written with --npz unless named)',
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
    // Checked now, before any loading, against the defaults; again below against the model folder's.
    samplerFlags(values);
    const npz = values.npz as string | undefined;
    const out = (values.out as string | undefined) ?? (npz ? undefined : 'samples.png');
    const outDir = values['out-dir'] as string | undefined;
    const num = intOption(values, 'num', 1, 100_000_000);
    if (npz && !npz.endsWith('.npz')) throw new CliError(`--npz must name a .npz file, got "${npz}"`);
    if (out) requireOutputExtension(out, '.png', 'out', 'the grid is written as PNG');
    if (outDir) requireFolderName(outDir, 'out-dir');
    const ditPath = useModel ? null : requireFile(requireString(values, 'dit', 'sample'), 'DiT checkpoint');
    const aePath = useModel ? null : requireString(values, 'autoencoder', 'sample');
    // Output folders first: a missing folder must not cost a whole sampling run.
    if (out) await mkdir(dirname(out), { recursive: true });
    if (npz) {
      if (existsSync(npz) && !existsSync(`${npz}.partial`)) throw new CliError(`${npz} already exists: delete it to sample again, or name another file`);
      await mkdir(dirname(npz), { recursive: true });
    }
    if (outDir) await mkdir(outDir, { recursive: true });

    const manifest: ModelManifest | null = modelDir ? await readModelManifest(modelDir) : null;
    const chosen = parseClasses(values.classes as string | undefined, values['class-names'] as string | undefined, manifest);

    await startBackend(values.backend);
    let dit, decoder, stats: LatentStats | null;
    if (modelDir) {
      ({ dit, autoencoder: decoder, stats } = await loadModelFolder(modelDir));
    } else {
      dit = await timedLoad('DiT', ditPath!, () => loadDiTFile(ditPath!));
      decoder = await loadAutoencoderOption(values, 'sample', true);
      stats = values['no-stats'] ? null : values.stats ? await readStatsFile(values.stats as string) : loadLatentStats();
      checkParts(`${ditPath} with ${aePath}${values.stats ? ` and ${values.stats}` : ''}`, { dit, decoder, stats });
    }
    if (chosen.some((c) => c >= dit.config.numClasses)) {
      throw new CliError(`class index ${Math.max(...chosen)} is out of range: this DiT knows ${dit.config.numClasses} classes`);
    }
    // --num without classes: balanced over all the DiT's classes (sample_ddp.py style sample batches).
    const cycle = num !== undefined && values.classes === undefined && values['class-names'] === undefined && !manifest
      ? Array.from({ length: dit.config.numClasses }, (_, k) => k)
      : chosen;
    const classes = num === undefined ? chosen : Array.from({ length: num }, (_, i) => cycle[i % cycle.length]);
    const { schedule: _schedule, ...settings } = samplerFlags(values, manifest?.sampling);
    const className = (k: number) => (manifest ? manifest.classes[k] : findClass(k).name);

    const source: Record<string, string> = modelDir ? { model: manifest!.name } : { dit: ditPath!, autoencoder: aePath! };
    if (npz) {
      await writeSampleBatch(npz, { dit, decoder, stats, classes, seed, batch, settings, source });
      if (!out && !outDir) return;
    }
    const images: GeneratedImage[] = [];
    // Each batch counts its steps and one unit for its decode, which the bar reports stage by stage.
    const bar = new ProgressBar('sampling', Math.ceil(classes.length / batch) * (settings.steps + 1), 'step');
    for (let start = 0; start < classes.length; start += batch) {
      const done = (start / batch) * (settings.steps + 1);
      const chunk = await generateImages({
        dit, decoder, stats, classes: classes.slice(start, start + batch), seed: seed + start, ...settings,
        onStep: ({ step }) => bar.update(done + step),
        onDecode: (stage, stages) => bar.update(done + settings.steps + (stage === stages ? 1 : 0), stage === stages ? '' : `decoding ${stage}/${stages}`),
      });
      images.push(...chunk);
    }
    const text = { software: 'svg-ts', ...generationSettings(settings), ...source };
    const names = classes.map(className).join(', ');
    if (out) {
      const grid = imageGrid(images, { columns: classes.length <= 10 ? classes.length : Math.ceil(Math.sqrt(classes.length)), scale });
      await writeFileAtomic(out, await encodePng({ ...grid, channels: 3 }, { ...text, classes: classes.join(','), 'class names': names, seed: String(seed) }));
      console.log(`wrote ${out} (${images.length} images, ${grid.width}×${grid.height}): ${names}`);
    }
    if (outDir) {
      for (const [i, im] of images.entries()) {
        const name = join(outDir, `${String(i).padStart(3, '0')}_class${im.classIndex}_seed${im.seed}.png`);
        await writeFileAtomic(name, await encodePng({ ...im, channels: 3 }, { ...text, class: `${im.classIndex} ${className(im.classIndex)}`, seed: String(im.seed) }));
      }
      console.log(`wrote ${images.length} images to ${outDir}`);
    }
  },
});

/**
 * Samples `classes.length` images into an ADM sample batch (`arr_0` images, `arr_1` labels), batch by batch.
 * Image i always has class `classes[i]` and noise seed `seed + i`, so a run continued after a kill writes the same
 * file as an uninterrupted one; a run with other settings refuses to continue the unfinished file.
 */
async function writeSampleBatch(
  path: string,
  job: { dit: GenerateOptions['dit']; decoder: GenerateOptions['decoder']; stats: LatentStats | null; classes: number[]; seed: number; batch: number; settings: Omit<GenerateOptions, 'dit' | 'decoder' | 'stats' | 'classes' | 'seed'>; source: Record<string, string> },
): Promise<void> {
  const { dit, decoder, stats, classes, seed, batch, settings } = job;
  const first = await generateImages({ dit, decoder, stats, classes: classes.slice(0, 1), seed, ...settings, steps: 1 });
  const { width, height } = first[0];
  const n = classes.length;
  const meta = { ...job.source, ...generationSettings(settings), seed, classes: hashLabels(classes) };
  let writer: NpzFileWriter;
  try {
    writer = await NpzFileWriter.create(path, [
      { name: 'arr_0', dtype: 'U8', shape: [n, height, width, 3] },
      { name: 'arr_1', dtype: 'I64', shape: [n] },
    ], { resume: true, meta });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (writer.rowsDone.arr_1 < n) await writer.writeRows('arr_1', 0, BigInt64Array.from(classes, (c) => BigInt(c)));
  const from = writer.rowsDone.arr_0;
  if (from > 0) console.log(`${path}: continuing after ${from} of ${n} images`);
  const bar = new ProgressBar('sampling', n, 'img');
  bar.update(from);
  try {
    for (let start = from; start < n; start += batch) {
      const chunk = await generateImages({ dit, decoder, stats, classes: classes.slice(start, start + batch), seed: seed + start, ...settings });
      const pixels = new Uint8Array(chunk.length * height * width * 3);
      chunk.forEach((im, i) => pixels.set(im.pixels, i * height * width * 3));
      await writer.writeRows('arr_0', start, pixels);
      bar.update(start + chunk.length);
    }
    await writer.finish();
  } catch (e) {
    await writer.close().catch(() => undefined);
    throw e;
  }
  console.log(`wrote ${path}: ${n} images ${height}×${width}, labels ${describeLabels(classes)}`);
}

/** A short fingerprint of the label sequence (the settings check of a resumed sample batch). */
function hashLabels(classes: number[]): string {
  let h = 0x811c9dc5;
  for (const c of classes) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return `${classes.length}:${h.toString(16)}`;
}

function describeLabels(classes: number[]): string {
  const distinct = new Set(classes).size;
  const [lo, hi] = [Math.floor(classes.length / distinct), Math.ceil(classes.length / distinct)];
  return `${distinct} classes, ${lo === hi ? lo : `${lo}–${hi}`} each`;
}

function parseClasses(indices: string | undefined, names: string | undefined, manifest: ModelManifest | null): number[] {
  if (indices && names) throw new CliError('give --classes or --class-names, not both');
  const items = (indices ?? names)?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items) return manifest ? manifest.classes.map((_, k) => k) : [...SAMPLE_CLASSES_IMAGENET];
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
