import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '@svg/nn';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Backends the parity tests run on: env SVG_TEST_BACKENDS (comma-separated), default cpu, wasm and webgpu
 * (WebGPU through Dawn on SwiftShader when no Vulkan driver is configured).
 */
export function testBackends(): Exclude<BackendName, 'auto'>[] {
  const list = process.env.SVG_TEST_BACKENDS ?? 'cpu,wasm,webgpu';
  return list.split(',').map((s) => s.trim()).filter(Boolean) as Exclude<BackendName, 'auto'>[];
}

/** Switches tfjs to `name` for the tests that follow. */
export async function useBackend(name: Exclude<BackendName, 'auto'>): Promise<void> {
  if (name === 'webgpu' && !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  await initBackend(name);
  if (tf.getBackend() !== name) throw new Error(`backend ${name} did not start`);
}

/** Reads a tensor on any backend (webgpu in Node cannot read synchronously). */
export async function read(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data());
}
