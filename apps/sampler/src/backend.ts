/**
 * Backend start-up for the page: WebGPU, then WebGL, then wasm (then cpu), via @svg/nn's `initBackend`, or the one
 * named in `?backend=`. Also knows the WebGPU device's buffer limits, so the page can refuse a job that cannot fit
 * instead of letting the tab die.
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers WebGL so that initBackend('auto') can fall back to it when WebGPU has no adapter.
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { type BackendInfo, initBackend } from '@svg/nn';

export const BACKEND_CHOICES = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Starts the chosen backend; throws with a readable message when it cannot. */
export async function startBackend(choice: BackendChoice): Promise<BackendInfo> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  if (choice === 'webgl') {
    if (!(await tf.setBackend('webgl'))) throw new Error('WebGL could not start in this browser');
    await tf.ready();
    return { name: 'webgl', detail: 'WebGL' };
  }
  const info = await initBackend(choice);
  if (info.name === 'wasm') {
    const threads = crossOriginIsolated ? 'threads allowed' : 'single thread: the page is not cross-origin isolated';
    return { ...info, detail: `${info.detail}, ${threads}` };
  }
  return info;
}

/** The parts of a WebGPU `GPUDevice` the page uses. */
interface GpuDevice {
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  addEventListener(type: 'uncapturederror', listener: (event: Event & { error: { message: string } }) => void): void;
  lost: Promise<{ reason: string; message: string }>;
}

/** The WebGPU device of the active backend, or null on other backends. */
export function gpuDevice(): GpuDevice | null {
  if (tf.getBackend() !== 'webgpu') return null;
  return (tf.backend() as unknown as { device?: GpuDevice }).device ?? null;
}

/** Largest single buffer the backend can hold, in bytes (Infinity when it has no such limit we know of). */
export function maxBufferBytes(): number {
  const device = gpuDevice();
  if (!device) return Infinity;
  return Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
}

/** Raised when a tensor would not fit the GPU's limits. */
export class GpuLimitError extends Error {
  override name = 'GpuLimitError';
}

/** Throws a {@link GpuLimitError} when one buffer of `bytes` bytes (for `what`) is over the device's limit. */
export function checkBufferSize(bytes: number, what: string, limit = maxBufferBytes()): void {
  if (bytes > limit) {
    throw new GpuLimitError(
      `${what} needs a ${mb(bytes)} GPU buffer, but this GPU allows at most ${mb(limit)} per buffer ` +
        `(WebGPU maxStorageBufferBindingSize / maxBufferSize). Use a smaller model, or the wasm backend (?backend=wasm), which has no such limit.`,
    );
  }
}

/** Reports WebGPU validation/out-of-memory errors and a lost device through `report` instead of only the console. */
export function watchGpuErrors(report: (message: string) => void): void {
  const device = gpuDevice();
  if (!device) return;
  device.addEventListener('uncapturederror', (event) => {
    report(`WebGPU error: ${event.error.message}`);
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') report(`The GPU device was lost (${info.message || info.reason}); reload the page.`);
  });
}

export function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}
