import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { type RawTensor, toFloat32 } from '@svg/weights';

/** Switches tfjs to the cpu backend (the flow code itself is backend-agnostic). */
export async function useCpu(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A fixture tensor as a tfjs tensor (int32 stays int32). */
export function toTensor(raw: RawTensor): tf.Tensor {
  if (raw.dtype === 'I32' || raw.dtype === 'I64') return tf.tensor(Int32Array.from(raw.data as Int32Array, Number), raw.shape, 'int32');
  return tf.tensor(toFloat32(raw), raw.shape, 'float32');
}
