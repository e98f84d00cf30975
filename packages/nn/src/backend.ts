import * as tf from '@tensorflow/tfjs-core';
import { registerAccurateReductions } from './reductions';

/** The backends `initBackend` knows. `tensorflow` means `@tensorflow/tfjs-node(-gpu)`, when the user installed it. */
export type BackendName = 'auto' | 'webgpu' | 'wasm' | 'cpu' | 'tensorflow';

export interface BackendInfo {
  /** The tfjs backend now active. */
  name: Exclude<BackendName, 'auto'> | 'webgl';
  /** Human-readable detail, e.g. the WebGPU adapter. */
  detail: string;
}

export interface InitBackendOptions {
  /**
   * In Node, register the OpenBLAS kernels of `@svg/blas` (when installed and built) on the cpu and wasm backends.
   * Default true; env `SVG_BLAS=0` turns it off as well.
   */
  blas?: boolean;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Thrown when a backend cannot start here; the message says what to install or change. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

/**
 * Selects and initialises a tfjs backend. `auto` picks the fastest available: in Node `tensorflow` (if
 * installed), then `wasm`, then `cpu`; in browsers `webgpu`, then `webgl` (if registered), `wasm`, `cpu`.
 */
export async function initBackend(name: BackendName = 'auto', options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (isNode) tf.env().set('PROD', true);
  if (name !== 'auto') return withBlas(await start(name), options);
  const order: Exclude<BackendName, 'auto'>[] = isNode ? ['tensorflow', 'wasm', 'cpu'] : ['webgpu', 'wasm', 'cpu'];
  const failures: string[] = [];
  for (const candidate of order) {
    try {
      if (!isNode && candidate === 'wasm' && tf.findBackend('webgl') && (await tf.setBackend('webgl'))) {
        return { name: 'webgl', detail: 'WebGL' };
      }
      return withBlas(await start(candidate), options);
    } catch (e) {
      failures.push(`${candidate}: ${(e as Error).message}`);
    }
  }
  throw new BackendUnavailableError(`no tfjs backend could start (${failures.join('; ')})`);
}

async function start(name: Exclude<BackendName, 'auto'>): Promise<BackendInfo> {
  switch (name) {
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      await activate('cpu');
      return { name, detail: 'tfjs cpu (JavaScript)' };
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      registerAccurateReductions('wasm');
      await activate('wasm');
      return { name, detail: 'tfjs wasm (SIMD)' };
    case 'webgpu':
      return startWebGPU();
    case 'tensorflow':
      return startTensorflow();
  }
}

async function activate(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new BackendUnavailableError(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
}

async function startWebGPU(): Promise<BackendInfo> {
  if (isNode && !(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) await installNodeWebGPU();
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (!gpu) throw new BackendUnavailableError('WebGPU is not available (navigator.gpu is missing)');
  const adapter = (await gpu.requestAdapter()) as { info?: { vendor?: string; architecture?: string; description?: string } } | null;
  if (!adapter) {
    throw new BackendUnavailableError(
      isNode
        ? `WebGPU found no adapter. Without a GPU, set VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (Debian package chromium) for SwiftShader`
        : 'WebGPU found no adapter (in Chromium without a GPU, start it with --enable-unsafe-webgpu)',
    );
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  await activate('webgpu');
  const info = adapter.info ?? {};
  const detail = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'WebGPU';
  return { name: 'webgpu', detail };
}

/** Node has no WebGPU of its own: the npm package `webgpu` (Dawn) provides `navigator.gpu`. */
async function installNodeWebGPU(): Promise<void> {
  let dawn: { create(options: string[]): unknown; globals: Record<string, unknown> };
  try {
    const moduleName = 'webgpu';
    dawn = (await import(/* @vite-ignore */ moduleName)) as typeof dawn;
  } catch (e) {
    if (!isModuleNotFound(e)) throw e;
    throw new BackendUnavailableError("backend 'webgpu' in Node needs the npm package 'webgpu' (npm install webgpu)");
  }
  Object.assign(globalThis, dawn.globals);
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const gpu = dawn.create([]);
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else g.navigator = { gpu };
}

async function startTensorflow(): Promise<BackendInfo> {
  for (const moduleName of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(/* @vite-ignore */ moduleName);
    } catch (e) {
      if (isModuleNotFound(e)) continue;
      throw e;
    }
    if (tf.findBackend('tensorflow')) {
      await activate('tensorflow');
      return { name: 'tensorflow', detail: moduleName };
    }
  }
  throw new BackendUnavailableError(
    "backend 'tensorflow' needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu 4.22.0 (npm install; it downloads libtensorflow, and -gpu needs CUDA 11.2 + cuDNN 8)",
  );
}

function isModuleNotFound(e: unknown): boolean {
  const { code, message = '' } = e as { code?: string; message?: string };
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)|Could not resolve/.test(message);
}

/** Speeds up cpu/wasm in Node with `@svg/blas` (an optional peer): matmuls and convs through OpenBLAS. */
async function withBlas(info: BackendInfo, options: InitBackendOptions): Promise<BackendInfo> {
  const wanted = options.blas ?? (typeof process !== 'undefined' && process.env?.SVG_BLAS !== '0');
  if (!isNode || !wanted || (info.name !== 'cpu' && info.name !== 'wasm')) return info;
  let blas: { registerBlasKernels(backend: string): boolean };
  try {
    const moduleName = '@svg/blas';
    blas = (await import(/* @vite-ignore */ moduleName)) as typeof blas;
  } catch (e) {
    if (isModuleNotFound(e)) return info;
    throw e;
  }
  return blas.registerBlasKernels(info.name) ? { ...info, detail: `${info.detail} + OpenBLAS kernels` } : info;
}
