import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './module';

/**
 * Activation checkpointing: `fn(...inputs)` whose intermediate tensors are not kept for the backward pass, which
 * computes `fn` again instead. Gradients flow to `inputs` and to the trainable parameters of `module` (the ones `fn`
 * uses). Trades one more forward of `fn` for its activations: tfjs keeps every saved tensor and every intermediate
 * gradient until a backward pass ends, so without this a deep model's backward needs several times its forward's
 * memory (DiT-S at batch 8: 5.6 GB, past wasm's 4 GiB heap). `fn` must compute the same thing twice: no active
 * dropout or other randomness inside it.
 */
export function checkpoint<T extends tf.Tensor>(module: Module, fn: (...inputs: tf.Tensor[]) => T, inputs: tf.Tensor[]): T {
  const params = module.trainableParameters().map(([, p]) => p.variable);
  const n = inputs.length;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const xs = args.slice(0, n) as tf.Tensor[];
    save(xs);
    const value = tf.tidy(() => fn(...xs));
    const gradFunc = (dy: T, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const wrt = [...saved, ...params];
        const grads = nestedGradients(() => fn(...saved), wrt, dy);
        return grads.map((g, i) => g ?? tf.zerosLike(wrt[i]!));
      });
    return { value, gradFunc };
  });
  return op(...inputs, ...params) as T;
}

interface EngineInternals {
  state: { activeTape: unknown };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor, allowNoGradients: boolean): { value: tf.Tensor; grads: (tf.Tensor | undefined)[] };
}

/**
 * `d f / d xs · dy` from inside a gradient function. tfjs' engine has one tape; a gradient computed during another
 * backward pass starts a fresh one and clears it when done, which would leave the outer pass without its tape (and
 * its saved tensors undisposed), so the outer tape is put back afterwards.
 */
function nestedGradients(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): (tf.Tensor | undefined)[] {
  const engine = tf.engine() as unknown as EngineInternals;
  const outer = engine.state.activeTape;
  try {
    const { value, grads } = engine.gradients(f, xs, dy, true);
    value.dispose();
    return grads;
  } finally {
    engine.state.activeTape = outer;
  }
}
