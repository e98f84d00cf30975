/**
 * The sampler page: wires the controls to backend start-up, model loading, generation and the gallery. Every
 * error ends up in the page's error area (never only in the console).
 */
import { checkGeneratorParts } from '@svg/generate';
import { BACKEND_CHOICES, type BackendChoice, checkBufferSize, mb, startBackend, watchGpuErrors } from './backend';
import { Gallery, drawRgb } from './gallery';
import { type GalleryItem, runGeneration } from './generate';
import {
  type LoadedModels,
  type OpenedFile,
  type ProgressFn,
  cachedBytes,
  clearWeightsCache,
  findManifest,
  loadDecoderWeights,
  loadDiTWeights,
  loadStats,
  openWeights,
  paramsLabel,
  parseAutoencoderConfig,
} from './models';
import {
  ALL_CLASSES,
  CFG_MODE_EXAMPLES,
  type ClassNames,
  type ModelSources,
  type Settings,
  SOLVER_NAMES,
  classLabel,
  classLabels,
  loadSettings,
  loadSources,
  parseClass,
  randomSeed,
  saveSettings,
  saveSources,
  validateSettings,
} from './state';

const $ = <T extends HTMLElement = HTMLElement>(selector: string): T => {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`page is missing ${selector}`);
  return el;
};
const input = (id: string) => $<HTMLInputElement>(`#${id}`);

type SlotName = keyof ModelSources;
const SLOTS: SlotName[] = ['dit', 'decoder', 'config', 'stats'];
const slot = (name: SlotName) => ({
  file: $<HTMLInputElement>(`.slot[data-slot="${name}"] input[type=file]`),
  url: $<HTMLInputElement>(`.slot[data-slot="${name}"] input[type=text]`),
  status: $(`.slot[data-slot="${name}"] .status`),
});

let models: LoadedModels | null = null;
/** Class names of the loaded model (null: ImageNet's). */
let classNames: ClassNames = null;
let backendLabel = 'none';
let running: AbortController | null = null;

// --- errors -------------------------------------------------------------------------------------------------------

function showError(error: unknown, kind: 'error' | 'notice' = 'error'): void {
  const message = error instanceof Error ? error.message : String(error);
  if (kind === 'error') console.error(error);
  const box = document.createElement('div');
  box.className = kind;
  const text = document.createElement('span');
  text.textContent = message;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.title = 'dismiss';
  close.addEventListener('click', () => box.remove());
  box.append(text, close);
  $('#errors').append(box);
}

function clearErrors(): void {
  $('#errors').replaceChildren();
}

window.addEventListener('error', (e) => showError(e.error ?? e.message));
window.addEventListener('unhandledrejection', (e) => showError(e.reason));

function setState(state: 'starting' | 'no-backend' | 'idle' | 'loading' | 'ready' | 'generating'): void {
  document.body.dataset.state = state;
  const busy = state === 'loading' || state === 'generating' || state === 'starting';
  $<HTMLButtonElement>('#load').disabled = busy || state === 'no-backend';
  $<HTMLButtonElement>('#clear-cache').disabled = busy;
  // Generate also works before loading: it loads the models named in the slots first (the demo model on a first visit).
  $<HTMLButtonElement>('#generate').disabled = state !== 'ready' && state !== 'idle';
  $<HTMLButtonElement>('#cancel').disabled = state !== 'generating';
  document.querySelectorAll<HTMLButtonElement>('.same-seed').forEach((b) => (b.disabled = state !== 'ready'));
}

// --- settings form ------------------------------------------------------------------------------------------------

function fillForm(s: Settings): void {
  input('class').value = classLabel(s.classIndex, classNames);
  input('count').value = String(s.count);
  input('steps').value = String(s.steps);
  input('cfg').value = String(s.cfg);
  input('cfg-mode').value = s.cfgMode;
  $<HTMLSelectElement>('#sampler').value = s.sampler;
  input('shift').value = String(s.shift);
  input('seed').value = String(s.seed);
  input('preview-on').checked = s.preview;
  input('preview-every').value = String(s.previewEvery);
}

/** The settings in the form, or throws with the field that is wrong. */
function readForm(): Settings {
  const s: Settings = {
    classIndex: parseClass(input('class').value, classNames),
    count: Number(input('count').value),
    steps: Number(input('steps').value),
    cfg: Number(input('cfg').value),
    cfgMode: input('cfg-mode').value.trim(),
    sampler: $<HTMLSelectElement>('#sampler').value as Settings['sampler'],
    shift: Number(input('shift').value),
    seed: Number(input('seed').value),
    preview: input('preview-on').checked,
    previewEvery: Number(input('preview-every').value),
  };
  const problem = validateSettings(s, models?.dit.config.numClasses ?? classNames?.length ?? 1000);
  if (problem) throw new Error(problem);
  return s;
}

/** The class field's suggestions: the loaded model's classes (ImageNet's until a model with names is loaded). */
function fillClassList(): void {
  $('#class-list').replaceChildren(...classLabels(classNames).map((label) => Object.assign(document.createElement('option'), { value: label })));
  input('class').placeholder = classNames ? `${classNames.length} classes, or "all classes"` : 'type to search the 1000 classes';
}

function setupForm(): void {
  fillClassList();
  $('#cfg-modes').append(...CFG_MODE_EXAMPLES.map((m) => Object.assign(document.createElement('option'), { value: m })));
  $('#sampler').append(...SOLVER_NAMES.map((m) => Object.assign(document.createElement('option'), { value: m, textContent: m })));
  fillForm(loadSettings());
  $('#dice').addEventListener('click', () => (input('seed').value = String(randomSeed())));
}

// --- backend ------------------------------------------------------------------------------------------------------

async function setupBackend(): Promise<void> {
  const requested = new URLSearchParams(location.search).get('backend') ?? 'auto';
  const choice = (BACKEND_CHOICES as readonly string[]).includes(requested) ? (requested as BackendChoice) : 'auto';
  const select = $<HTMLSelectElement>('#backend-choice');
  select.append(...BACKEND_CHOICES.map((b) => Object.assign(document.createElement('option'), { value: b, textContent: b })));
  select.value = choice;
  select.addEventListener('change', () => {
    const url = new URL(location.href);
    url.searchParams.set('backend', select.value);
    location.href = url.href;
  });
  if (choice !== requested) showError(`unknown backend "${requested}" in the URL; using auto (choose one of ${BACKEND_CHOICES.join(', ')})`);
  try {
    const info = await startBackend(choice);
    backendLabel = info.name;
    $('#backend').textContent = `${info.name} (${info.detail})`;
    $('#backend').dataset.backend = info.name;
    if (choice === 'auto' && info.name !== 'webgpu') {
      showError(`WebGPU is not available in this browser (${'gpu' in navigator ? 'no adapter' : 'no navigator.gpu'}); running on ${info.name}, which is much slower.`, 'notice');
    }
    if (info.name === 'cpu') {
      showError('The cpu backend computes on the page itself and is very slow: the page may not respond while it works.', 'notice');
    }
    watchGpuErrors(showError);
    setState('idle');
  } catch (e) {
    $('#backend').textContent = 'none';
    showError(`No compute backend could start: ${(e as Error).message}`);
    setState('no-backend');
  }
}

// --- models -------------------------------------------------------------------------------------------------------

function progressText(done: number, total: number, phase: 'download' | 'load'): string {
  const verb = phase === 'download' ? 'downloading' : 'loading';
  return total > 0 ? `${verb} ${mb(done)} / ${mb(total)}` : `${verb} ${mb(done)}`;
}

async function loadModels(): Promise<void> {
  clearErrors();
  setState('loading');
  const status = $('#load-status');
  const sources = loadSources();
  if (models) {
    // Free the old weights first: two models side by side may not fit.
    models.dit.dispose();
    models.autoencoder.dispose();
    models = null;
  }
  try {
    const open = async (name: SlotName): Promise<OpenedFile | null> => {
      const s = slot(name);
      const onProgress: ProgressFn = (done, total, phase) => (s.status.textContent = progressText(done, total, phase));
      s.status.textContent = '';
      const opened = await openWeights(name, { file: s.file.files?.[0] ?? null, text: s.url.value }, onProgress);
      if (opened?.reopen) {
        s.url.value = opened.reopen;
        s.file.value = '';
      }
      sources[name] = opened?.reopen ?? s.url.value.trim();
      return opened;
    };
    const progressFor = (name: SlotName): ProgressFn => (done, total, phase) => (slot(name).status.textContent = progressText(done, total, phase));

    status.textContent = 'reading the autoencoder config…';
    const configFile = await open('config');
    const config = parseAutoencoderConfig(configFile ? await configFile.blob.text() : null, configFile?.label);
    slot('config').status.textContent = configFile ? `${configFile.label}` : 'official config';

    status.textContent = 'loading latent statistics…';
    const statsFile = await open('stats');
    const noStats = input('no-stats').checked;
    const stats = noStats ? null : await loadStats(statsFile?.blob ?? null, statsFile?.label ?? '');
    slot('stats').status.textContent = noStats ? 'not used' : statsFile ? statsFile.label : 'official (built in)';

    status.textContent = 'loading the DiT…';
    const ditFile = await open('dit');
    if (!ditFile) throw new Error('Choose the DiT weights: a file or a URL.');
    const dit = await loadDiTWeights(ditFile.blob, ditFile.label, progressFor('dit'), checkBufferSize);
    slot('dit').status.textContent = `${ditFile.label}: ${paramsLabel(dit)} params, ${mb(ditFile.blob.size)}`;
    // A model folder (the demo's, or any `svg convert`-made one) names its classes and sampler settings.
    const ditText = slot('dit').url.value.trim();
    const manifest = ditText && !ditText.startsWith('cache:') ? await findManifest(ditText).catch((e) => (dit.dispose(), Promise.reject(e))) : null;

    status.textContent = 'loading the decoder…';
    let autoencoder;
    let decoderLabel = '';
    try {
      const decoderFile = await open('decoder');
      if (!decoderFile) throw new Error('Choose the autoencoder weights: a file or a URL.');
      decoderLabel = decoderFile.label;
      autoencoder = await loadDecoderWeights(decoderFile.blob, decoderFile.label, config, progressFor('decoder'), checkBufferSize);
      slot('decoder').status.textContent = `${decoderFile.label}: decoder ${paramsLabel(autoencoder)} params`;
    } catch (e) {
      dit.dispose();
      throw e;
    }
    try {
      checkGeneratorParts({ dit, decoder: autoencoder.config.ddconfig.z_channels, stats, classNames: manifest?.classes });
    } catch (e) {
      dit.dispose();
      autoencoder.dispose();
      throw manifest ? new Error(`${manifest.name}: ${(e as Error).message}`) : e;
    }
    useClassNames(manifest?.classes ?? null, manifest?.sampling);
    models = {
      dit,
      autoencoder,
      stats,
      classNames,
      labels: { dit: ditFile.label, autoencoder: decoderLabel },
      summary: [...(manifest ? [manifest.name] : []), `DiT ${dit.config.depth} blocks × ${dit.config.hiddenSize}`, `${dit.config.numClasses} classes`],
    };
    saveSources(sources);
    const cached = await cachedBytes();
    status.textContent = `Models loaded (${models.summary.join(', ')}).${cached !== null ? ` Cache holds ${mb(cached)}.` : ''}`;
    setState('ready');
  } catch (e) {
    status.textContent = 'Loading failed.';
    showError(e);
    setState('idle');
  }
}

/**
 * Switches the class field to a model's class names (null: ImageNet's) and, for a model folder, to the sampler
 * settings it was made for. A class the new model does not have becomes "all classes" (or ImageNet's default).
 */
function useClassNames(names: ClassNames, sampling?: { steps?: number; cfg?: number; shift?: number; mode?: string; cfgMode?: string }): void {
  const before = readFormLoose();
  classNames = names;
  fillClassList();
  const n = names?.length ?? 1000;
  const classIndex = before.classIndex === ALL_CLASSES ? (n <= 16 ? ALL_CLASSES : 207) : before.classIndex < n ? before.classIndex : n <= 16 ? ALL_CLASSES : 207;
  const s: Settings = { ...before, classIndex };
  if (sampling) {
    if (sampling.steps !== undefined) s.steps = sampling.steps;
    if (sampling.cfg !== undefined) s.cfg = sampling.cfg;
    if (sampling.shift !== undefined) s.shift = sampling.shift;
    if (sampling.cfgMode !== undefined) s.cfgMode = sampling.cfgMode;
    if (sampling.mode !== undefined && (SOLVER_NAMES as string[]).includes(sampling.mode)) s.sampler = sampling.mode as Settings['sampler'];
  }
  fillForm(s);
}

// --- generation ---------------------------------------------------------------------------------------------------

let gallery: Gallery;

async function generate(override?: Partial<Settings>): Promise<void> {
  if (!models) await loadModels();
  if (!models) return;
  clearErrors();
  let settings: Settings;
  try {
    settings = { ...readForm(), ...override };
  } catch (e) {
    showError(e);
    return;
  }
  saveSettings({ ...readFormLoose(), ...override });
  running = new AbortController();
  setState('generating');
  const progress = $<HTMLProgressElement>('#progress');
  const text = $('#progress-text');
  const preview = $<HTMLCanvasElement>('#preview');
  progress.value = 0;
  text.textContent = 'starting…';
  const started = performance.now();
  preview.hidden = true;
  try {
    await runGeneration(models, settings, backendLabel, running.signal, {
      onProgress: ({ image, images, step, steps, fraction, itPerSec, decode }) => {
        progress.value = fraction;
        const which = images > 1 ? `image ${image}/${images} · ` : '';
        text.textContent = decode && decode.stage < decode.stages
          ? `${which}decoding, stage ${decode.stage}/${decode.stages}`
          : `${which}step ${step}/${steps} · ${itPerSec.toFixed(2)} it/s`;
      },
      onPreview: (image) => {
        drawRgb(preview, image);
        preview.hidden = false;
      },
      onImage: (item) => gallery.add([item]),
    });
    text.textContent += ` · done in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  } catch (e) {
    if (running.signal.aborted) text.textContent = 'cancelled';
    else {
      text.textContent = 'failed';
      showError(e);
    }
  } finally {
    preview.hidden = true;
    running = null;
    setState(models ? 'ready' : 'idle');
  }
}

/** The form values as far as they parse (for remembering), falling back to the saved ones. */
function readFormLoose(): Settings {
  try {
    return readForm();
  } catch {
    return loadSettings();
  }
}

function sameSeedAgain(item: GalleryItem): void {
  fillForm({ ...item.settings, count: 1, seed: item.seed });
  void generate({ count: 1, seed: item.seed });
}

// --- start --------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  setupForm();
  const sources = loadSources();
  for (const name of SLOTS) slot(name).url.value = sources[name];
  gallery = new Gallery($('#gallery'), $<HTMLDialogElement>('#lightbox'), sameSeedAgain);
  $('#load').addEventListener('click', () => void loadModels());
  $('#clear-cache').addEventListener('click', async () => {
    await clearWeightsCache();
    $('#load-status').textContent = 'Cache cleared.';
  });
  $('#generate').addEventListener('click', () => void generate());
  $('#cancel').addEventListener('click', () => running?.abort(new Error('cancelled')));
  await setupBackend();
}

void main();
