import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Module, type Parameter, init } from '@svg/nn';
import { Container } from './container';

/**
 * PyTorch `nn.BatchNorm2d` on NHWC tensors. Training mode normalises with the batch statistics (biased variance)
 * and updates `running_mean` / `running_var` (unbiased variance) with `momentum` and counts `num_batches_tracked`;
 * eval mode uses the running statistics.
 */
export class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;
  readonly numBatchesTracked: Parameter;

  constructor(readonly channels: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super();
    this.weight = this.param('weight', [channels], init.normal(0.02, 1));
    this.bias = this.param('bias', [channels], init.zeros);
    this.runningMean = this.buffer('running_mean', [channels], init.zeros);
    this.runningVar = this.buffer('running_var', [channels], init.ones);
    this.numBatchesTracked = this.buffer('num_batches_tracked', [], init.zeros);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let mean: tf.Tensor;
      let variance: tf.Tensor;
      if (this.training) {
        const [b, h, w] = x.shape;
        const n = b * h * w;
        ({ mean, variance } = tf.moments(x, [0, 1, 2]));
        const m = this.momentum;
        const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
        this.runningMean.set(tf.keep(tf.add(tf.mul(this.runningMean.value, 1 - m), tf.mul(mean, m))));
        this.runningVar.set(tf.keep(tf.add(tf.mul(this.runningVar.value, 1 - m), tf.mul(unbiased, m))));
        this.numBatchesTracked.set(tf.keep(tf.add(this.numBatchesTracked.value, 1)));
      } else {
        mean = this.runningMean.value;
        variance = this.runningVar.value;
      }
      const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, this.weight.value), this.bias.value) as tf.Tensor4D;
    });
  }
}

/** Options of {@link NLayerDiscriminator} (taming's constructor arguments). */
export interface DiscriminatorOptions {
  /** Input channels (3). */
  inputChannels?: number;
  /** Width of the first layer (64). */
  ndf?: number;
  /** Number of stride-2 layers plus one (3). */
  nLayers?: number;
}

const LEAKY_SLOPE = 0.2;

/**
 * taming-transformers' PatchGAN `NLayerDiscriminator` with BatchNorm (`use_actnorm=False`, spec §2.3) on NHWC
 * images: `[B, H, W, 3]` → logits `[B, H', W', 1]` (30×30 for 256×256). Keys `main.{i}.*` as upstream; weights
 * initialised as taming's `weights_init` (conv N(0, 0.02²), BatchNorm N(1, 0.02²) and 0).
 */
export class NLayerDiscriminator extends Module {
  /** The layers in `main` order; each entry is applied in sequence (LeakyReLU where `null`). */
  private readonly layers: (Conv2d | BatchNorm2d | null)[] = [];

  constructor(options: DiscriminatorOptions = {}) {
    super();
    const { inputChannels = 3, ndf = 64, nLayers = 3 } = options;
    const main = this.child('main', new Container());
    const conv = (cin: number, cout: number, stride: number, bias: boolean) =>
      new Conv2d(cin, cout, 4, { stride, padding: 1, bias, weightInit: init.normal(0.02) });
    const add = (layer: Conv2d | BatchNorm2d | null) => {
      if (layer) main.add(String(this.layers.length), layer);
      this.layers.push(layer);
    };
    add(conv(inputChannels, ndf, 2, true));
    add(null);
    let mult = 1;
    for (let n = 1; n <= nLayers; n++) {
      const prev = mult;
      mult = Math.min(2 ** n, 8);
      add(conv(ndf * prev, ndf * mult, n < nLayers ? 2 : 1, false));
      add(new BatchNorm2d(ndf * mult));
      add(null);
    }
    add(conv(ndf * mult, 1, 1, true));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const layer of this.layers) h = layer ? layer.forward(h) : (tf.leakyRelu(h, LEAKY_SLOPE) as tf.Tensor4D);
      return h;
    });
  }
}

