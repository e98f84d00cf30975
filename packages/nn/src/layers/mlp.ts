import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { Linear } from './linear';
import { activation, type Activation, silu } from './activations';

/** `fc2(act(fc1(x)))` (timm `Mlp`). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(inFeatures: number, hiddenFeatures: number, outFeatures = inFeatures, act: Activation = 'gelu', bias = true) {
    super();
    this.fc1 = this.child('fc1', new Linear(inFeatures, hiddenFeatures, { bias }));
    this.fc2 = this.child('fc2', new Linear(hiddenFeatures, outFeatures, { bias }));
    this.act = activation(act);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(this.act(this.fc1.forward(x))));
  }
}

/** Gated FFN `w3(SiLU(w1(x)) ⊙ w2(x))` (DINOv3 `SwiGLUFFN` names: gate `w1`, value `w2`, output `w3`). */
export class SwiGLU extends Module {
  readonly w1: Linear;
  readonly w2: Linear;
  readonly w3: Linear;

  constructor(inFeatures: number, hiddenFeatures: number, outFeatures = inFeatures, bias = true) {
    super();
    this.w1 = this.child('w1', new Linear(inFeatures, hiddenFeatures, { bias }));
    this.w2 = this.child('w2', new Linear(inFeatures, hiddenFeatures, { bias }));
    this.w3 = this.child('w3', new Linear(hiddenFeatures, outFeatures, { bias }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.w3.forward(tf.mul(silu(this.w1.forward(x)), this.w2.forward(x))));
  }
}
