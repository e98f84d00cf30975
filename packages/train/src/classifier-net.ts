import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, loadStateDict } from '@svg/nn';
import type { RawTensor } from '@svg/weights';
import { type Dinov3Config, type Dinov3PresetName, type Dinov3ViT, IMAGENET_MEAN, IMAGENET_STD, createDinov3 } from '@svg/dinov3';
import { ConvClassifier } from '@svg/eval';
import type { ClassifierModelConfig } from './config';

/** A backbone with a linear classification head; inputs are NHWC RGB images in [-1, 1]. */
export interface ClassifierNet extends Module {
  /** The part that is kept after training (the frozen encoder, or the whole scorer). */
  readonly backbone: Module;
  /** Penultimate features `[B, F]`. */
  features(images: tf.Tensor4D): tf.Tensor2D;
  /** Class logits `[B, classes]`. */
  logits(images: tf.Tensor4D): tf.Tensor2D;
  /** Loads a state dict written by `stateDict(net)` (strict). */
  load(sd: ReadonlyMap<string, RawTensor>): void;
}

/**
 * A DINOv3 ViT trained as a supervised classifier: a linear head on `[x_norm_clstoken ⊕ mean(x_norm_patchtokens)]`
 * (DINOv3's linear-evaluation features). Images are ImageNet-normalised first, as the SVG autoencoder feeds DINOv3.
 * Parameters: `encoder.*` (official DINOv3 names) and `head.*`.
 */
export class Dinov3Classifier extends Module implements ClassifierNet {
  readonly encoder: Dinov3ViT;
  readonly head: Linear;

  constructor(modelName: string, overrides: Partial<Dinov3Config>, numClasses: number) {
    super();
    this.encoder = this.child('encoder', createDinov3(modelName.replace(/^dinov3_/, '') as Dinov3PresetName, overrides));
    this.head = this.child('head', new Linear(2 * this.encoder.embedDim, numClasses));
  }

  get backbone(): Module {
    return this.encoder;
  }

  features(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const unit = tf.div(tf.add(images, 1), 2);
      const x = tf.div(tf.sub(unit, tf.tensor1d([...IMAGENET_MEAN])), tf.tensor1d([...IMAGENET_STD])) as tf.Tensor4D;
      const f = this.encoder.forwardFeatures(x);
      return tf.concat([f.clsToken, tf.mean(f.patchTokens, 1)], 1) as tf.Tensor2D;
    });
  }

  logits(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.head.forward(this.features(images)) as tf.Tensor2D);
  }

  /** DINOv3 through its own loader (it owns the RoPE periods), the head as a plain module. */
  load(sd: ReadonlyMap<string, RawTensor>): void {
    this.encoder.loadStateDict(new Map([...sd].filter(([k]) => k.startsWith('encoder.'))), { prefix: 'encoder.', strict: true });
    loadStateDict(this.head, new Map([...sd].filter(([k]) => k.startsWith('head.')).map(([k, v]) => [k.slice('head.'.length), v])), { strict: true });
  }
}

/** `ConvClassifier` of `@svg/eval` as a {@link ClassifierNet}: the whole network is kept. */
class ConvClassifierNet extends Module implements ClassifierNet {
  readonly net: ConvClassifier;

  constructor(channels: number[], hidden: number, numClasses: number) {
    super();
    this.net = this.child('net', new ConvClassifier({ channels, hidden, numClasses }));
  }

  get backbone(): Module {
    return this.net;
  }

  features(images: tf.Tensor4D): tf.Tensor2D {
    return this.net.features(images);
  }

  logits(images: tf.Tensor4D): tf.Tensor2D {
    return this.net.forward(images);
  }

  load(sd: ReadonlyMap<string, RawTensor>): void {
    loadStateDict(this, sd, { strict: true });
  }
}

/** Builds the network a classifier config describes (weights from the current init seed). */
export function createClassifierNet(model: ClassifierModelConfig): ClassifierNet {
  if (model.arch === 'dinov3') return new Dinov3Classifier(model.dinoconfig.model_name, (model.dinoconfig.overrides ?? {}) as Partial<Dinov3Config>, model.numClasses);
  return new ConvClassifierNet(model.channels, model.hidden, model.numClasses);
}
