import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Linear, Module, loadStateDict } from '@svg/nn';
import type { StateDictLike } from '@svg/weights';
import { toStateDict } from '@svg/weights';

/** Shape of a {@link ConvClassifier}. */
export interface ConvClassifierConfig {
  /** Output channels of each 3×3 conv stage; each stage is conv → ReLU → 2×2 max-pool. Default `[32, 64]`. */
  channels: number[];
  /** Width of the penultimate (feature) layer. Default 128. */
  hidden: number;
  numClasses: number;
}

/**
 * A small CNN classifier for 32×32 images — the independent judge of generated Fashion-MNIST samples. Input: NHWC
 * RGB in [-1, 1] (greyscale images have three equal channels); stages of 3×3 conv (padding 1) → ReLU → 2×2 max-pool,
 * then a ReLU hidden layer (the features used for Fréchet distances) and a linear layer to the logits.
 * Parameter names: `conv{i}.*`, `fc.*`, `out.*`.
 */
export class ConvClassifier extends Module {
  readonly config: Readonly<ConvClassifierConfig>;
  readonly convs: Conv2d[];
  readonly fc: Linear;
  readonly out: Linear;

  constructor(config: Partial<ConvClassifierConfig> & { numClasses: number }) {
    super();
    const c: ConvClassifierConfig = { channels: [32, 64], hidden: 128, ...config };
    this.config = Object.freeze(c);
    let inC = 3;
    this.convs = c.channels.map((outC, i) => {
      const conv = this.child(`conv${i}`, new Conv2d(inC, outC, 3, { padding: 1 }));
      inC = outC;
      return conv;
    });
    this.fc = this.child('fc', new Linear(inC * 4 * 4, c.hidden));
    this.out = this.child('out', new Linear(c.hidden, c.numClasses));
  }

  /** Images `[B, S, S, 3]` → penultimate features `[B, hidden]` (after ReLU). The grid is average-pooled to 4×4 first. */
  features(images: tf.Tensor4D): tf.Tensor2D {
    if (images.rank !== 4 || images.shape[3] !== 3) throw new Error(`ConvClassifier expects NHWC RGB images [B, S, S, 3], got [${images.shape}]`);
    return tf.tidy(() => {
      let h: tf.Tensor4D = images;
      for (const conv of this.convs) h = tf.maxPool(tf.relu(conv.forward(h)) as tf.Tensor4D, 2, 2, 'valid');
      const [b, hh, ww, cc] = h.shape;
      if (hh !== 4 || ww !== 4) {
        if (hh % 4 !== 0 || ww % 4 !== 0) throw new Error(`ConvClassifier: a ${images.shape[1]}×${images.shape[2]} input gives a ${hh}×${ww} grid, not a multiple of 4`);
        h = tf.avgPool(h, [hh / 4, ww / 4], [hh / 4, ww / 4], 'valid');
      }
      return tf.relu(this.fc.forward(tf.reshape(h, [b, 16 * cc]))) as tf.Tensor2D;
    });
  }

  /** Images → logits `[B, numClasses]`. */
  forward(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.out.forward(this.features(images)) as tf.Tensor2D);
  }

  /** Predicted class of each image. */
  async predict(images: tf.Tensor4D): Promise<Int32Array> {
    const idx = tf.tidy(() => tf.argMax(this.forward(images), 1));
    const out = (await idx.data()) as Int32Array;
    idx.dispose();
    return Int32Array.from(out);
  }
}

/**
 * Builds a {@link ConvClassifier} from a state dict (our safetensors names), inferring its shape from the weights:
 * conv stages from `conv{i}.weight`, the feature width from `fc.weight`, the classes from `out.weight`.
 */
export function loadConvClassifier(source: StateDictLike): ConvClassifier {
  const sd = toStateDict(source);
  const channels: number[] = [];
  for (let i = 0; sd.has(`conv${i}.weight`); i++) channels.push(sd.get(`conv${i}.weight`)!.shape[0]);
  const fc = sd.get('fc.weight');
  const out = sd.get('out.weight');
  if (channels.length === 0 || !fc || !out) {
    throw new Error(`not a ConvClassifier state dict: expected conv0.weight, fc.weight and out.weight (found ${[...sd.keys()].slice(0, 6).join(', ')}${sd.size > 6 ? ', ...' : ''})`);
  }
  const net = new ConvClassifier({ channels, hidden: fc.shape[0], numClasses: out.shape[0] });
  loadStateDict(net, sd, { strict: true });
  return net;
}
