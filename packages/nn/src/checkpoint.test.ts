import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LayerNorm, Linear, Module, checkpoint, geluTanh, initBackend, seededNormal } from './index';

class Block extends Module {
  readonly norm = this.child('norm', new LayerNorm(32));
  readonly fc1 = this.child('fc1', new Linear(32, 256));
  readonly fc2 = this.child('fc2', new Linear(256, 32));
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.add(x, this.fc2.forward(geluTanh(this.fc1.forward(this.norm.forward(x))))));
  }
}

class Stack extends Module {
  readonly blocks = this.childList('blocks', Array.from({ length: 6 }, () => new Block()));
  useCheckpoints = false;
  forward(x: tf.Tensor): tf.Tensor {
    for (const b of this.blocks) x = this.useCheckpoints ? checkpoint(b, (h) => b.forward(h), [x]) : b.forward(x);
    return x;
  }
}

describe.each(['cpu', 'wasm'] as const)('checkpoint on %s', (backend) => {
  it('gives the same loss and gradients (input and every parameter) with less memory at the backward peak', async () => {
    await initBackend(backend);
    const model = new Stack();
    const x = seededNormal([64, 32], 1);
    const w = seededNormal([64, 32], 2);
    const vars = model.trainableParameters().map(([, p]) => p.variable);
    const run = async (useCheckpoints: boolean) => {
      model.useCheckpoints = useCheckpoints;
      const before = tf.memory().numTensors;
      const loss = (input: tf.Tensor) => tf.sum(tf.mul(w, model.forward(input))) as tf.Scalar;
      let out: Float32Array[] = [];
      const profile = await tf.profile(async () => {
        const { value, grads } = tf.variableGrads(() => loss(x), vars);
        const [dx] = tf.grads(loss)([x]);
        const all = [value, dx!, ...vars.map((v) => grads[v.name]!)];
        out = await Promise.all(all.map(async (t) => Float32Array.from(await t.data())));
        tf.dispose(all);
      });
      expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
      return { out, peak: profile.peakBytes };
    };
    const plain = await run(false);
    const checkpointed = await run(true);
    expect(checkpointed.out.length).toBe(plain.out.length);
    checkpointed.out.forEach((got, i) => {
      const want = plain.out[i]!;
      const scale = Math.max(1e-3, ...want.map(Math.abs));
      expect(got.reduce((m, v, j) => Math.max(m, Math.abs(v - want[j]!)), 0) / scale, `output ${i}`).toBeLessThan(1e-5);
    });
    expect(checkpointed.peak).toBeLessThan(plain.peak * 0.75);
    tf.dispose([x, w]);
    model.dispose();
  });
});
