/** Helpers shared by this package's tests (not exported from the package). */
import * as tf from '@tensorflow/tfjs-core';
import { type RawTensor, toFloat32 } from '@svg/weights';
import type { Fixture } from '../../../tools/testing/fixtures';
import type { SvgAutoencoderConfig } from './config';

/** A fixture tensor as a tfjs tensor of the same shape. */
export function tensorOf(raw: RawTensor): tf.Tensor {
  return tf.tensor(toFloat32(raw), raw.shape, 'float32');
}

/** NCHW fixture tensor → NHWC tfjs tensor. */
export function nhwcOf(raw: RawTensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tensorOf(raw), [0, 2, 3, 1]) as tf.Tensor4D);
}

/** `[B, C, N]` fixture tensor → tokens `[B, N, C]`. */
export function tokensOf(raw: RawTensor): tf.Tensor3D {
  return tf.tidy(() => tf.transpose(tensorOf(raw), [0, 2, 1]) as tf.Tensor3D);
}

/** Reads an NHWC result in NCHW order (the fixtures' layout). Disposes nothing. */
export async function readNCHW(t: tf.Tensor4D): Promise<Float32Array> {
  const nchw = tf.transpose(t, [0, 3, 1, 2]);
  const data = Float32Array.from(await nchw.data());
  nchw.dispose();
  return data;
}

/** Reads tokens `[B, N, C]` in the fixtures' `[B, C, N]` order. */
export async function readChannelsFirst(t: tf.Tensor3D): Promise<Float32Array> {
  const cf = tf.transpose(t, [0, 2, 1]);
  const data = Float32Array.from(await cf.data());
  cf.dispose();
  return data;
}

/** One line of the parity report printed at the end of a test file. */
export function formatResult(backend: string, name: string, r: { maxAbs: number; relL2: number }): string {
  return `${backend.padEnd(7)} ${name.padEnd(44)} max_abs ${r.maxAbs.toExponential(2)}  rel_l2 ${r.relL2.toExponential(2)}`;
}

/** The fixture's autoencoder description as an upstream-style config (plus our depth overrides). */
export function fixtureConfig(f: Fixture): SvgAutoencoderConfig {
  const a = f.json.config.autoencoder;
  return {
    ddconfig: a.ddconfig,
    embed_dim: a.embed_dim,
    dinoconfig: { model_name: a.dinov3.hub, overrides: a.dinov3.overrides },
    extra_vit_config: { ...a.extra_vit_config, num_layers: a.extra_vit_num_layers },
  };
}
