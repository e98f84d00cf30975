import * as tf from '@tensorflow/tfjs-core';
import { StateDictMismatchError } from '@svg/nn';
import { type RawTensor, type StateDictLike, toFloat32, toStateDict } from '@svg/weights';
import { FoldedConv, MIXED_BLOCKS, foldBatchNorm, inceptionConvSpecs, mixedBlock } from './inception-blocks';

/** Side of the square the FID Inception v3 runs at: inputs of any other size are resized to it. */
export const FID_INCEPTION_SIZE = 299;

/** Width of pytorch-fid's FID features (the final average pool, `pool3`). */
export const FID_INCEPTION_DIMS = 2048;

/** Width of ADM's sFID features: 7 channels × 17 × 17 positions of `Mixed_6d.branch1x1`. */
export const SFID_DIMS = 7 * 17 * 17;

/** How the pixel values of the images given to {@link FidInceptionV3.forward} are scaled. */
export type FidInceptionRange = 'unit' | 'symmetric' | 'uint8';

/** Options of {@link fidInceptionInput} and {@link FidInceptionV3.forward}. */
export interface FidInceptionInputOptions {
  /**
   * `'unit'`: [0, 1] (pytorch-fid's convention: `ToTensor` of 8-bit images); `'symmetric'`: [-1, 1] (SVG's images);
   * `'uint8'`: 0..255. Default: `'unit'` for float32 tensors, `'uint8'` for int32 ones.
   */
  range?: FidInceptionRange;
}

/** Everything one forward of {@link FidInceptionV3} gives (all float32; the caller disposes them). */
export interface FidInceptionOutputs {
  /** `[B, 2048]` **FID features**: Mixed_7c averaged over space (pytorch-fid's default `--dims 2048`, TF `pool_3`). */
  pool3: tf.Tensor2D;
  /**
   * `[B, 2023]` **sFID features** (ADM): the first 7 channels of `Mixed_6d.branch1x1` (TF `mixed_6/conv`), flattened
   * in NHWC order with the channel fastest: index `(h·17 + w)·7 + c`.
   */
  spatial: tf.Tensor2D;
  /** `[B, 1008]` `pool3 · fc.weightᵀ + fc.bias`: torchvision `Inception3`'s logits. */
  logits: tf.Tensor2D;
  /** `[B, 1008]` `pool3 · fc.weightᵀ` **without** the bias: what ADM's Inception Score takes the softmax of. */
  admLogits: tf.Tensor2D;
  /** `[B, 64]` block 0 (after the first max pool) averaged over space: pytorch-fid's `--dims 64`. */
  features64: tf.Tensor2D;
  /** `[B, 192]` block 1 (after the second max pool) averaged over space: `--dims 192`. */
  features192: tf.Tensor2D;
  /** `[B, 768]` block 2 (Mixed_6e) averaged over space: `--dims 768`. */
  features768: tf.Tensor2D;
  /** `[B, 17, 17, 192]` NHWC output of `Mixed_6d.branch1x1` (conv 1×1 + BatchNorm + ReLU), the source of `spatial`. */
  mixed6dBranch1x1: tf.Tensor4D;
}

/**
 * Images → the network input: NHWC RGB `[B, H, W, 3]` (or one `[H, W, 3]`) scaled to [0, 1] per `options.range`,
 * resized to 299×299 by bilinear interpolation with half-pixel centres and no antialiasing (PyTorch
 * `F.interpolate(mode='bilinear', align_corners=False)`; untouched when already 299×299), then mapped to `2x − 1`.
 */
export function fidInceptionInput(images: tf.Tensor, options: FidInceptionInputOptions = {}): tf.Tensor4D {
  if ((images.rank !== 3 && images.rank !== 4) || images.shape[images.rank - 1] !== 3) {
    throw new Error(`FID Inception expects NHWC RGB images [B, H, W, 3] or [H, W, 3], got [${images.shape}]`);
  }
  const range = options.range ?? (images.dtype === 'float32' ? 'unit' : 'uint8');
  return tf.tidy(() => {
    let x = tf.cast(images.rank === 3 ? tf.expandDims(images, 0) : images, 'float32') as tf.Tensor4D;
    if (range === 'uint8') x = tf.div(x, 255);
    else if (range === 'symmetric') x = tf.div(tf.add(x, 1), 2);
    else if (range !== 'unit') throw new Error(`FID Inception: unknown range '${range as string}'`);
    const [, h, w] = x.shape;
    if (h !== FID_INCEPTION_SIZE || w !== FID_INCEPTION_SIZE) {
      x = tf.image.resizeBilinear(x, [FID_INCEPTION_SIZE, FID_INCEPTION_SIZE], false, true);
    }
    return tf.sub(tf.mul(x, 2), 1);
  });
}

/**
 * pytorch-fid's FID Inception v3 (`pytorch_fid.inception.InceptionV3` built on `fid_inception_v3()`: torchvision
 * `Inception3` with 1008 classes, no aux head, and the `FIDInceptionA/C/E_1/E_2` blocks whose pool branches average
 * without counting the padding, Mixed_7c's by max) for inference, on tfjs-core NHWC tensors. Every `BasicConv2d` has
 * its BatchNorm folded into one fused conv + bias + ReLU at load time. Build it with {@link loadFidInception}.
 */
export class FidInceptionV3 {
  /** Classes of the `fc` head (1008 for the FID network). */
  readonly numClasses: number;
  /** Folded `BasicConv2d`s by module path (`Mixed_6d.branch1x1`). */
  private readonly convs: Map<string, FoldedConv>;
  /** `fc.weight` transposed, `[2048, numClasses]`. */
  private readonly fcWeight: tf.Tensor2D;
  private readonly fcBias: tf.Tensor1D;
  private disposed = false;

  /** @internal Use {@link loadFidInception}. */
  constructor(convs: Map<string, FoldedConv>, fcWeight: tf.Tensor2D, fcBias: tf.Tensor1D) {
    this.convs = convs;
    this.fcWeight = fcWeight;
    this.fcBias = fcBias;
    this.numClasses = fcBias.shape[0];
  }

  /**
   * Images NHWC RGB `[B, H, W, 3]` (any size; [0, 1] by default, see {@link FidInceptionInputOptions.range}) → all
   * outputs, as pytorch-fid's `InceptionV3(output_blocks=[0, 1, 2, 3])` with `resize_input` and `normalize_input`.
   * Nothing but the returned tensors is left behind.
   */
  forward(images: tf.Tensor, options: FidInceptionInputOptions = {}): FidInceptionOutputs {
    if (this.disposed) throw new Error('FidInceptionV3: used after dispose()');
    return tf.tidy(() => {
      const c = (name: string, h: tf.Tensor4D) => this.convs.get(name)!.forward(h);
      const spaceMean = (h: tf.Tensor4D) => tf.mean(h, [1, 2]) as tf.Tensor2D;
      // Each stage runs in its own tidy and its input is freed after it, so only one stage's activations are alive.
      let h = fidInceptionInput(images, options);
      let captured: tf.Tensor4D | undefined;
      const stage = (f: (h: tf.Tensor4D) => tf.Tensor4D) => {
        const [next, kept] = tf.tidy(() => {
          captured = undefined;
          const out = f(h);
          return captured ? [out, captured] : [out];
        });
        h.dispose();
        h = next!;
        return kept;
      };
      stage((t) => tf.maxPool(c('Conv2d_2b_3x3', c('Conv2d_2a_3x3', c('Conv2d_1a_3x3', t))), 3, 2, 'valid')); // block 0
      const features64 = spaceMean(h);
      stage((t) => tf.maxPool(c('Conv2d_4a_3x3', c('Conv2d_3b_1x1', t)), 3, 2, 'valid')); // block 1
      const features192 = spaceMean(h);
      let mixed6dBranch1x1: tf.Tensor4D | undefined;
      let features768: tf.Tensor2D | undefined;
      for (const block of MIXED_BLOCKS) {
        // blocks 2 (Mixed_5b .. Mixed_6e) and 3 (Mixed_7a .. Mixed_7c)
        const kept = stage((t) =>
          mixedBlock(block.kind, t, (branch, u) => {
            const y = c(`${block.name}.${branch}`, u);
            // The sFID layer, returned from the stage's tidy beside the block output.
            if (block.name === 'Mixed_6d' && branch === 'branch1x1') captured = y;
            return y;
          }),
        );
        if (kept) mixed6dBranch1x1 = kept;
        if (block.name === 'Mixed_6e') features768 = spaceMean(h);
      }
      const pool3 = spaceMean(h);
      const [b] = pool3.shape;
      const spatial = tf.reshape(tf.slice(mixed6dBranch1x1!, [0, 0, 0, 0], [-1, -1, -1, 7]), [b, -1]) as tf.Tensor2D;
      const admLogits = tf.matMul(pool3, this.fcWeight) as tf.Tensor2D;
      const logits = tf.add(admLogits, this.fcBias) as tf.Tensor2D;
      return { pool3, spatial, logits, admLogits, features64, features192, features768: features768!, mixed6dBranch1x1: mixed6dBranch1x1! };
    });
  }

  /** `[B, 2048]` FID features alone (the other outputs are disposed). */
  pool3(images: tf.Tensor, options: FidInceptionInputOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.forward(images, options).pool3);
  }

  /** Frees the weights. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const conv of this.convs.values()) conv.dispose();
    this.fcWeight.dispose();
    this.fcBias.dispose();
  }
}

const BN_PARTS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

/**
 * Builds the {@link FidInceptionV3} from a state dict with the keys of pytorch-fid's checkpoint
 * `pt_inception-2015-12-05-6726825d.pth` (`Conv2d_1a_3x3.conv.weight`, `Mixed_6d.branch1x1.bn.running_var`, ...,
 * `fc.weight`, `fc.bias`), e.g. read with `readCheckpointFile` / `readSafetensorsFile` of `@svg/weights/node`.
 * `*.num_batches_tracked` entries are accepted and ignored. Missing, unexpected or mis-shaped keys throw one
 * {@link StateDictMismatchError} naming them all. BatchNorm (eps 0.001) is folded into the convs here, in float64.
 */
export function loadFidInception(source: StateDictLike): FidInceptionV3 {
  const sd = toStateDict(source);
  const specs = inceptionConvSpecs();
  const expected = new Map<string, number[]>();
  for (const s of specs) {
    expected.set(`${s.name}.conv.weight`, [s.outChannels, s.inChannels, ...s.kernel]);
    for (const p of BN_PARTS) expected.set(`${s.name}.bn.${p}`, [s.outChannels]);
  }
  const fc = sd.get('fc.weight');
  const numClasses = fc && fc.shape.length === 2 ? fc.shape[0] : 1008;
  expected.set('fc.weight', [numClasses, FID_INCEPTION_DIMS]);
  expected.set('fc.bias', [numClasses]);

  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [key, shape] of expected) {
    const raw = sd.get(key);
    if (!raw) missing.push(key);
    else if (!tf.util.arraysEqual(raw.shape, shape)) mismatched.push(`${key}: expected [${shape}], got [${raw.shape}]`);
  }
  const unexpected = [...sd.keys()].filter((k) => !expected.has(k) && !k.endsWith('.num_batches_tracked'));
  if (missing.length || mismatched.length || unexpected.length) throw new StateDictMismatchError(missing, unexpected, mismatched);

  const get = (key: string): Float32Array => toFloat32(sd.get(key) as RawTensor);
  const convs = new Map<string, FoldedConv>();
  try {
    for (const s of specs) {
      const bn = (p: string) => get(`${s.name}.bn.${p}`);
      const { filter, bias } = foldBatchNorm(s, get(`${s.name}.conv.weight`), bn('weight'), bn('bias'), bn('running_mean'), bn('running_var'));
      convs.set(s.name, new FoldedConv(s, filter, bias));
    }
    const fcWeight = tf.tidy(() => tf.transpose(tf.tensor2d(get('fc.weight'), [numClasses, FID_INCEPTION_DIMS]))) as tf.Tensor2D;
    return new FidInceptionV3(convs, fcWeight, tf.tensor1d(get('fc.bias')));
  } catch (e) {
    for (const conv of convs.values()) conv.dispose();
    throw e;
  }
}
