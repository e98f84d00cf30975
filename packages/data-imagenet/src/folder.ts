import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { type ClassInfo, ClassLookupError, classesFromNames, findClass, imagenetClasses } from './classes';
import { IMAGE_EXTENSIONS, type ImageDataset, type Sample, compareCodePoints, hasImageExtension } from './dataset';

/** Options of {@link scanImageFolder}. */
export interface ScanOptions {
  /** File extensions counted as images (case-insensitive). Default torchvision's `IMG_EXTENSIONS`. */
  extensions?: readonly string[];
  /** Accept class folders without images (torchvision's `allow_empty`). Default false: that is an error. */
  allowEmptyClasses?: boolean;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function requireDirectory(root: string, what: string): Promise<void> {
  let s;
  try {
    s = await stat(root);
  } catch {
    throw new Error(`${what} "${root}" does not exist`);
  }
  if (!s.isDirectory()) throw new Error(`${what} "${root}" is not a directory`);
}

/** `sorted(os.walk(dir, followlinks=True))`: every folder under `dir` with its sorted file names. */
async function walk(dir: string, out: { dir: string; files: string[] }[] = [], seen = new Set<string>()): Promise<typeof out> {
  const real = await realpath(dir);
  if (seen.has(real)) return out; // a symlink cycle
  seen.add(real);
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  const subdirs: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(path)))) subdirs.push(path);
    else files.push(e.name);
  }
  out.push({ dir, files: files.sort(compareCodePoints) });
  for (const s of subdirs) await walk(s, out, seen);
  return out;
}

/**
 * Scans an `ImageFolder` tree `root/<class>/**\/<image>` exactly as torchvision does: classes are the sorted
 * sub-folder names (label = position in that list; for ImageNet's `<wnid>` folders this is the standard
 * 0..999 index), and each class's images are found recursively in `sorted(os.walk(...))` order with sorted
 * file names. Throws a clear error for a missing root, a root without class folders, or class folders
 * without images.
 */
export async function scanImageFolder(root: string, options: ScanOptions = {}): Promise<ImageDataset> {
  const extensions = options.extensions ?? IMAGE_EXTENSIONS;
  await requireDirectory(root, 'dataset root');
  const entries = await readdir(root, { withFileTypes: true });
  const classNames: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(join(root, e.name))))) classNames.push(e.name);
  }
  classNames.sort(compareCodePoints);
  if (classNames.length === 0) {
    throw new Error(
      `no class folders in dataset root "${root}": expected ${root}/<class>/<image> ` +
        '(for a flat folder of images use a labels file, see openImageDataset)',
    );
  }
  const samples: Sample[] = [];
  const empty: string[] = [];
  for (let label = 0; label < classNames.length; label++) {
    const dirs = await walk(join(root, classNames[label]));
    dirs.sort((a, b) => compareCodePoints(a.dir, b.dir));
    const before = samples.length;
    for (const { dir, files } of dirs) {
      for (const f of files) if (hasImageExtension(f, extensions)) samples.push({ path: join(dir, f), label });
    }
    if (samples.length === before) empty.push(classNames[label]);
  }
  if (empty.length && !options.allowEmptyClasses) {
    const shown = empty.slice(0, 10).join(', ') + (empty.length > 10 ? `, ... (${empty.length} in all)` : '');
    throw new Error(`class folder(s) without images in "${root}": ${shown} (image extensions: ${extensions.join(' ')})`);
  }
  return { root, samples, classes: classesFromNames(classNames) };
}

/**
 * Every image file under `root`, at any depth, in `sorted(os.walk(...))` order — for work that needs no labels
 * (latent statistics, a photo folder with `__pycache__` or `tests` sub-folders, a flat folder). Throws when there is
 * none.
 */
export async function listImageFiles(root: string, options: Pick<ScanOptions, 'extensions'> = {}): Promise<string[]> {
  const extensions = options.extensions ?? IMAGE_EXTENSIONS;
  await requireDirectory(root, 'image folder');
  const dirs = await walk(root);
  dirs.sort((a, b) => compareCodePoints(a.dir, b.dir));
  const paths = dirs.flatMap(({ dir, files }) => files.filter((f) => hasImageExtension(f, extensions)).map((f) => join(dir, f)));
  if (paths.length === 0) throw new Error(`no images under "${root}" (image extensions: ${extensions.join(' ')})`);
  return paths;
}

/** Options of {@link loadLabelledFolder}. */
export interface LabelledFolderOptions extends ScanOptions {
  /** The class list labels refer to (names, or {@link ClassInfo}s). Default the 1000 ImageNet classes. */
  classes?: readonly string[] | readonly ClassInfo[];
}

/**
 * A flat folder of images plus a labels file (e.g. the ImageNet validation set). Accepted labels files:
 * - `LOC_val_solution.csv` style CSV with header `ImageId,PredictionString`, the first token of the
 *   prediction string being the wnid;
 * - text lines `<file> <label>` (whitespace or comma separated), the label a class index, wnid or class name
 *   (the rest of the line; see {@link findClass}).
 * A file may be named without its extension. Samples are sorted by file name.
 */
export async function loadLabelledFolder(root: string, labelsFile: string, options: LabelledFolderOptions = {}): Promise<ImageDataset> {
  const extensions = options.extensions ?? IMAGE_EXTENSIONS;
  await requireDirectory(root, 'image folder');
  let text: string;
  try {
    text = await readFile(labelsFile, 'utf8');
  } catch {
    throw new Error(`labels file "${labelsFile}" cannot be read`);
  }
  const classes: readonly ClassInfo[] =
    options.classes === undefined
      ? imagenetClasses()
      : typeof options.classes[0] === 'string'
        ? classesFromNames(options.classes as readonly string[])
        : (options.classes as readonly ClassInfo[]);
  const byWnid = new Map<string, number>();
  for (const c of classes) if (c.wnid) byWnid.set(c.wnid, c.index);
  const labelOf = (text: string, where: string): number => {
    const known = byWnid.get(text);
    if (known !== undefined) return known;
    try {
      return findClass(text, classes).index;
    } catch (e) {
      throw new Error(`${where}: ${e instanceof ClassLookupError ? e.message : String(e)}`);
    }
  };

  const files = (await readdir(root, { withFileTypes: true })).filter((e) => !e.isDirectory() && hasImageExtension(e.name, extensions));
  const byName = new Map<string, string>();
  for (const e of files) {
    byName.set(e.name, e.name);
    const stem = basename(e.name, extname(e.name));
    if (!byName.has(stem)) byName.set(stem, e.name);
  }

  const lines = text.split(/\r?\n/);
  const csv = /^\s*imageid\s*,\s*predictionstring\s*$/i.test(lines[0] ?? '');
  const samples: Sample[] = [];
  const missing: string[] = [];
  for (let i = csv ? 1 : 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const m = csv ? /^([^,]+),\s*(\S+)/.exec(line) : /^(\S+?)[\s,]+(.+)$/.exec(line);
    if (!m) {
      throw new Error(
        `${labelsFile}:${i + 1}: expected "<file> <label>", got "${line}" (the devkit's ` +
          'ILSVRC2012_validation_ground_truth.txt uses ILSVRC2012_IDs, not class indices: convert it first)',
      );
    }
    const file = m[1].trim();
    const labelText = m[2].trim();
    const label = labelOf(labelText, `${labelsFile}:${i + 1}`);
    const name = byName.get(file);
    if (name === undefined) {
      missing.push(file);
      continue;
    }
    samples.push({ path: join(root, name), label });
  }
  if (missing.length) {
    throw new Error(`${missing.length} image(s) named in "${labelsFile}" are not in "${root}", e.g. ${missing.slice(0, 3).join(', ')}`);
  }
  if (samples.length === 0) throw new Error(`labels file "${labelsFile}" names no images`);
  samples.sort((a, b) => compareCodePoints(a.path, b.path));
  return { root, samples, classes };
}

/**
 * Opens a dataset folder: with `labels`, a flat folder + labels file ({@link loadLabelledFolder}); without, an
 * `ImageFolder` tree of class folders ({@link scanImageFolder}).
 */
export async function openImageDataset(
  root: string,
  options: LabelledFolderOptions & { labels?: string } = {},
): Promise<ImageDataset> {
  return options.labels ? loadLabelledFolder(root, options.labels, options) : scanImageFolder(root, options);
}
