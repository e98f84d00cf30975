import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, type Parameter, initBackend, init } from '@svg/nn';

/** Tests run on the reference cpu backend. */
export async function useCpu(): Promise<void> {
  await initBackend('cpu');
}

/** A module with one plain and one linear-layout parameter, for optimiser and EMA tests. */
export class TwoParams extends Module {
  readonly w: Parameter;
  readonly fc: Linear;
  constructor() {
    super();
    this.w = this.param('w', [3], init.constant(1));
    this.fc = this.child('fc', new Linear(2, 3, { weightInit: init.constant(0.5), biasInit: init.zeros }));
  }
}

/** Reads a tensor's values as plain numbers. */
export async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}
