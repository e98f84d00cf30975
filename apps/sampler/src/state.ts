/**
 * The page's settings: what the controls hold, their defaults (those of the SVG sampling script), validation,
 * and persistence in localStorage so a reload keeps them (and the model URLs).
 */
import { type ClassInfo, findClass, imagenetClasses } from '@svg/data-imagenet';
import { SAMPLE_DEFAULTS, SOLVERS, type SamplerSettings, SamplerSettingsError, type SolverName, resolveSamplerSettings } from '@svg/flow';

export interface Settings {
  /** Class index, or {@link ALL_CLASSES}: one image of every class (models with up to {@link MAX_IMAGES} classes). */
  classIndex: number;
  count: number;
  steps: number;
  cfg: number;
  cfgMode: string;
  sampler: SolverName;
  shift: number;
  seed: number;
  preview: boolean;
  previewEvery: number;
}

/** `classIndex` meaning "one image of every class". */
export const ALL_CLASSES = -1;
const ALL_CLASSES_LABEL = 'all classes';

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  classIndex: ALL_CLASSES,
  count: 1,
  steps: SAMPLE_DEFAULTS.steps,
  cfg: SAMPLE_DEFAULTS.cfg,
  cfgMode: SAMPLE_DEFAULTS.cfgMode,
  sampler: SAMPLE_DEFAULTS.mode,
  shift: SAMPLE_DEFAULTS.shift,
  seed: 0,
  preview: false,
  previewEvery: 5,
});

export const SOLVER_NAMES = Object.keys(SOLVERS) as SolverName[];
export const CFG_MODE_EXAMPLES = ['constant', 'late', 'linear', 'early-0.5', 'cfg_star-1-0.5'];
export const MAX_IMAGES = 16;
export const MAX_SEED = 2 ** 31 - 1;

/** The URL-field texts of the model slots (a URL, `cache:<name>`, or empty). */
export interface ModelSources {
  dit: string;
  decoder: string;
  config: string;
  stats: string;
}

/** The shipped Fashion-MNIST SVG, served with the page (demo-model/): what a first visit loads. */
export const DEMO_SOURCES: Readonly<ModelSources> = Object.freeze({
  dit: 'demo-model/dit.safetensors',
  decoder: 'demo-model/autoencoder.safetensors',
  config: 'demo-model/autoencoder.yaml',
  stats: 'demo-model/stats.safetensors',
});

const SETTINGS_KEY = 'svg-sampler-settings';
const SOURCES_KEY = 'svg-sampler-models';

/** Class names by index: a model's own (from its svg-model.json) or, when null, ImageNet's. */
export type ClassNames = readonly string[] | null;

function classList(names: ClassNames): readonly ClassInfo[] {
  return names ? names.map((name, index) => ({ index, name, synonyms: [name] })) : imagenetClasses();
}

/** How a class appears in the class field: "207 golden retriever", or "all classes". */
export function classLabel(index: number, names: ClassNames): string {
  if (index === ALL_CLASSES) return ALL_CLASSES_LABEL;
  const c = classList(names)[index];
  return c ? `${c.index} ${c.name}` : String(index);
}

/** Every option of the class field. */
export function classLabels(names: ClassNames): string[] {
  const labels = classList(names).map((c) => `${c.index} ${c.name}`);
  return labels.length <= MAX_IMAGES ? [ALL_CLASSES_LABEL, ...labels] : labels;
}

/** The class typed in the class field: "207", "golden retriever", "207 golden retriever" or "all classes". */
export function parseClass(text: string, names: ClassNames): number {
  const t = text.trim();
  if (t.toLowerCase() === ALL_CLASSES_LABEL || t.toLowerCase() === 'all') return ALL_CLASSES;
  const list = classList(names);
  const m = /^(\d+)(\s+.*)?$/.exec(t);
  if (m && Number(m[1]) < list.length) return Number(m[1]);
  if (!names) return findClass(t).index;
  const key = (x: string) => x.toLowerCase().replace(/[^a-z0-9]+/g, '');
  const hit = list.find((c) => key(c.name) === key(t));
  if (!hit) throw new Error(`unknown class "${t}": this model's classes are ${names.join(', ')}`);
  return hit.index;
}

/** The form's names of the sampler settings, for messages. */
const FIELD_NAMES: Record<keyof SamplerSettings, string> = { steps: 'steps', cfg: 'CFG scale', shift: 'timestep shift', mode: 'sampler', cfgMode: 'CFG mode', guidanceInterval: 'guidance interval' };

/** Checks every field for a model with `numClasses` classes; the message names the field and what it needs. */
export function validateSettings(s: Settings, numClasses = 1000): string | null {
  const intIn = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (s.classIndex === ALL_CLASSES) {
    if (numClasses > MAX_IMAGES) return `"all classes" needs a model with at most ${MAX_IMAGES} classes; this one has ${numClasses}: choose a class`;
  } else if (!intIn(s.classIndex, 0, numClasses - 1)) return `class must be one of the model's ${numClasses} classes`;
  if (!intIn(s.count, 1, MAX_IMAGES)) return `number of images must be 1 to ${MAX_IMAGES}`;
  if (!intIn(s.seed, 0, MAX_SEED)) return `seed must be an integer from 0 to ${MAX_SEED}`;
  if (!intIn(s.previewEvery, 1, 1000)) return 'preview interval must be a whole number of steps ≥ 1';
  try {
    resolveSamplerSettings({ steps: s.steps, cfg: s.cfg, shift: s.shift, mode: s.sampler, cfgMode: s.cfgMode });
  } catch (e) {
    if (!(e instanceof SamplerSettingsError)) throw e;
    return e.format(FIELD_NAMES[e.setting]);
  }
  return null;
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 1_000_000);
}

function load<T extends object>(key: string, defaults: T): T {
  try {
    const saved = JSON.parse(localStorage.getItem(key) ?? '{}') as Partial<T>;
    const out = { ...defaults };
    for (const k of Object.keys(defaults) as (keyof T)[]) {
      if (saved[k] !== undefined && typeof saved[k] === typeof defaults[k]) out[k] = saved[k] as T[keyof T];
    }
    return out;
  } catch {
    return { ...defaults };
  }
}

function save(key: string, value: object): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or disabled: settings are simply not remembered
  }
}

export const loadSettings = (): Settings => load(SETTINGS_KEY, DEFAULT_SETTINGS as Settings);
export const saveSettings = (s: Settings): void => save(SETTINGS_KEY, s);
export const loadSources = (): ModelSources => load(SOURCES_KEY, { ...DEMO_SOURCES });
export const saveSources = (s: ModelSources): void => save(SOURCES_KEY, s);
