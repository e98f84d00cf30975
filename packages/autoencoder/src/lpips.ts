import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Module, type Parameter, loadStateDict } from '@svg/nn';
import { Container } from './container';
import { type RawTensor, type StateDictLike, toStateDict } from '@svg/weights';

/** torchvision `vgg16.features` indices of the 13 convolutions, grouped into LPIPS's five slices. */
const SLICES: number[][] = [
  [0, 2],
  [5, 7],
  [10, 12, 14],
  [17, 19, 21],
  [24, 26, 28],
];
/** LPIPS's scaling constants (`ScalingLayer` buffers), per RGB channel. */
const SHIFT = [-0.03, -0.088, -0.188];
const SCALE = [0.458, 0.448, 0.45];
/** Output channels of each slice (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3). */
const SLICE_CHANNELS = [64, 128, 256, 512, 512];

/** One LPIPS slice (`net.slice{k}`): an optional 2×2 max-pool, then 3×3 conv + ReLU pairs (keys = vgg16 indices). */
class VggSlice extends Module {
  readonly convs: Conv2d[];

  constructor(indices: number[], inChannels: number, outChannels: number, readonly pool: boolean) {
    super();
    this.convs = indices.map((index, i) => this.child(String(index), new Conv2d(i === 0 ? inChannels : outChannels, outChannels, 3, { padding: 1 })));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.pool ? tf.maxPool(x, 2, 2, 'valid') : x;
      for (const conv of this.convs) h = tf.relu(conv.forward(h));
      return h;
    });
  }
}

/** `vgg16(pretrained).features` cut into the five LPIPS slices (`net.slice1` ... `net.slice5`). */
class Vgg16Features extends Module {
  readonly slices: VggSlice[];

  constructor() {
    super();
    this.slices = SLICES.map((indices, k) =>
      this.child(`slice${k + 1}`, new VggSlice(indices, k === 0 ? 3 : SLICE_CHANNELS[k - 1], SLICE_CHANNELS[k], k > 0)),
    );
  }

  /** The five ReLU outputs relu1_2 ... relu5_3. */
  forward(x: tf.Tensor4D): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    let h = x;
    for (const slice of this.slices) {
      h = slice.forward(h);
      outs.push(h);
    }
    return outs;
  }
}

/** LPIPS `NetLinLayer`: (Dropout at index 0, inactive: LPIPS stays in eval mode) then a 1×1 conv without bias. */
class NetLinLayer extends Module {
  readonly conv: Conv2d;

  constructor(channels: number) {
    super();
    const model = this.child('model', new Container());
    this.conv = model.add('1', new Conv2d(channels, 1, 1, { bias: false }));
  }
}


/** LPIPS's input scaling: `(x − shift) / scale` per RGB channel (buffers `scaling_layer.shift` / `.scale`). */
class ScalingLayer extends Module {
  readonly shift: Parameter;
  readonly scale: Parameter;

  constructor() {
    super();
    this.shift = this.buffer('shift', [1, 3, 1, 1], (s) => tf.tensor(SHIFT, s));
    this.scale = this.buffer('scale', [1, 3, 1, 1], (s) => tf.tensor(SCALE, s));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.div(tf.sub(x, tf.reshape(this.shift.value, [3])), tf.reshape(this.scale.value, [3])) as tf.Tensor4D);
  }
}

/** Unit-normalises features along channels: `f / (‖f‖₂ + 1e-10)` (taming `normalize_tensor`). */
function normalizeChannels(f: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(f, tf.add(tf.sqrt(tf.sum(tf.square(f), 3, true)), 1e-10)) as tf.Tensor4D);
}

/**
 * The LPIPS perceptual distance with the VGG16 backbone (taming-transformers `LPIPS`, spec §2.2), on NHWC images in
 * [-1, 1]. Frozen and always in eval mode (its Dropout never applies; spec defect D17). Parameter names are the
 * upstream ones (`scaling_layer.*`, `net.slice{k}.{i}.*`, `lin{k}.model.1.weight`), as in `loss.perceptual_loss.*`
 * of a training checkpoint. Load the weights with {@link Lpips.loadWeights}.
 */
export class Lpips extends Module {
  readonly scalingLayer: ScalingLayer;
  readonly net: Vgg16Features;
  readonly lins: NetLinLayer[];

  constructor() {
    super();
    this.scalingLayer = this.child('scaling_layer', new ScalingLayer());
    this.net = this.child('net', new Vgg16Features());
    this.lins = SLICE_CHANNELS.map((c, k) => this.child(`lin${k}`, new NetLinLayer(c)));
    this.setTrainable(false);
  }

  /** LPIPS never enters training mode. */
  override train(_mode = true): this {
    return super.train(false);
  }

  /**
   * Loads the VGG16 backbone and the linear heads. `vgg16` may be torchvision's `vgg16` state dict (`features.N.*`,
   * `classifier.*` ignored, e.g. `vgg16-397923af.pth`), its `features` alone (`N.*`) or LPIPS names
   * (`net.slice{k}.N.*`); `lin` holds `lin{k}.model.1.weight` (taming's `vgg.pth`). One dict with everything
   * (`loss.perceptual_loss.*` of a checkpoint, prefix removed) may be passed as `vgg16` alone.
   */
  loadWeights(vgg16: StateDictLike, lin?: StateDictLike): void {
    const sd = new Map<string, RawTensor>();
    for (const [key, value] of toStateDict(vgg16)) {
      const name = lpipsName(key);
      if (name) sd.set(name, value);
    }
    if (lin) for (const [key, value] of toStateDict(lin)) sd.set(key, value);
    // The scaling constants are buffers of the checkpoint; torchvision/taming files do not carry them.
    if (!sd.has('scaling_layer.shift')) sd.set('scaling_layer.shift', { dtype: 'F32', shape: [1, 3, 1, 1], data: Float32Array.from(SHIFT) });
    if (!sd.has('scaling_layer.scale')) sd.set('scaling_layer.scale', { dtype: 'F32', shape: [1, 3, 1, 1], data: Float32Array.from(SCALE) });
    loadStateDict(this, sd);
  }

  /** LPIPS distance per sample, `[B]`, between NHWC images in [-1, 1]. */
  forward(x0: tf.Tensor4D, x1: tf.Tensor4D): tf.Tensor1D {
    return tf.tidy(() => {
      const f0 = this.net.forward(this.scalingLayer.forward(x0));
      const f1 = this.net.forward(this.scalingLayer.forward(x1));
      const perLayer = this.lins.map((lin, k) => {
        const d = tf.square(tf.sub(normalizeChannels(f0[k]), normalizeChannels(f1[k]))) as tf.Tensor4D;
        return tf.mean(lin.conv.forward(d), [1, 2, 3]);
      });
      return tf.addN(perLayer) as tf.Tensor1D;
    });
  }
}

const VGG_INDEX_TO_SLICE = new Map(SLICES.flatMap((indices, k) => indices.map((i) => [i, k + 1] as const)));

/** Maps a torchvision / LPIPS VGG16 key to our LPIPS name; null for keys LPIPS does not use. */
function lpipsName(key: string): string | null {
  if (/^(net\.slice\d|lin\d|scaling_layer)\./.test(key)) return key;
  const m = /^(?:features\.)?(\d+)\.(weight|bias)$/.exec(key);
  if (!m) return null;
  const slice = VGG_INDEX_TO_SLICE.get(Number(m[1]));
  return slice ? `net.slice${slice}.${m[1]}.${m[2]}` : null;
}
