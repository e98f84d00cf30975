import * as tf from '@tensorflow/tfjs-core';
import type { Parameter } from '@svg/nn';
import { type RawTensor, toFloat32 } from '@svg/weights';

/**
 * A tensor shaped like parameter `p` (our layout) as a float32 RawTensor in PyTorch's layout (`[out, in]` linears,
 * `[out, in, kh, kw]` convs), e.g. an optimiser moment saved next to the PyTorch-named weights.
 */
export async function toTorchLayout(p: Parameter, t: tf.Tensor): Promise<RawTensor> {
  const torch = tf.tidy(() => {
    if (p.layout === 'linear') return tf.transpose(t, [1, 0]);
    if (p.layout === 'conv2d') return tf.transpose(t, [3, 2, 0, 1]);
    return tf.clone(t);
  });
  const data = (await torch.data()) as Float32Array;
  torch.dispose();
  return { dtype: 'F32', shape: p.torchShape, data };
}

/** The inverse of {@link toTorchLayout}: a kept tensor in our layout. `key` names the tensor in errors. */
export function fromTorchLayout(p: Parameter, raw: RawTensor, key: string): tf.Tensor {
  const expected = p.torchShape;
  if (raw.shape.length !== expected.length || raw.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${key}: expected shape [${expected}], got [${raw.shape}]`);
  }
  const data = toFloat32(raw);
  return tf.keep(
    tf.tidy(() => {
      const t = tf.tensor(data, expected, 'float32');
      if (p.layout === 'linear') return tf.transpose(t, [1, 0]);
      if (p.layout === 'conv2d') return tf.transpose(t, [2, 3, 1, 0]);
      return t;
    }),
  );
}
