import * as tf from '@tensorflow/tfjs-core';
import { Attention, LayerNorm, Linear, Mlp, Module, silu } from '@svg/nn';

/** `x·(1 + scale) + shift` with per-sample `scale`, `shift` `[B, 1, D]` broadcast over tokens. */
function modulate(x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(x, tf.add(scale, 1)), shift);
}

/** `Linear(SiLU(c))` split into `parts` vectors `[B, 1, D]` (upstream `adaLN_modulation`). */
function modulationParts(linear: Linear, c: tf.Tensor2D, parts: number): tf.Tensor[] {
  const [b, d] = c.shape;
  return tf.split(linear.forward(silu(c)), parts, 1).map((m) => tf.reshape(m, [b, 1, d]));
}

/**
 * The SwiGLU MLP for `useSwiglu: true`, `down_proj(SiLU(gate_proj(x)) · up_proj(x))` without biases: the
 * `MoeMLP(hidden_size, intermediate_size)` of the same authors' DiffMoE code, which `models_SVG.py` references but
 * never defines (defect D9).
 */
export class GatedMlp extends Module {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;

  constructor(hiddenSize: number, intermediateSize: number) {
    super();
    this.gate = this.child('gate_proj', new Linear(hiddenSize, intermediateSize, { bias: false }));
    this.up = this.child('up_proj', new Linear(hiddenSize, intermediateSize, { bias: false }));
    this.down = this.child('down_proj', new Linear(intermediateSize, hiddenSize, { bias: false }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.down.forward(tf.mul(silu(this.gate.forward(x)), this.up.forward(x))));
  }
}

export interface DiTBlockOptions {
  qkNorm: boolean;
  mlpHidden: number;
  useSwiglu: boolean;
}

/** adaLN-Zero transformer block: gated, modulated attention and MLP residuals (spec §3.6). */
export class DiTBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp | GatedMlp;
  /** `adaLN_modulation.1` (index 0 is the parameterless SiLU). */
  readonly adaLN: Linear;

  constructor(hiddenSize: number, numHeads: number, options: DiTBlockOptions) {
    super();
    // Parameterless norms are not children: they have nothing to load.
    this.norm1 = new LayerNorm(hiddenSize, { eps: 1e-6, affine: false });
    this.norm2 = new LayerNorm(hiddenSize, { eps: 1e-6, affine: false });
    this.attn = this.child('attn', new Attention(hiddenSize, numHeads, { qkvBias: true, qkNorm: options.qkNorm }));
    this.mlp = this.child(
      'mlp',
      options.useSwiglu ? new GatedMlp(hiddenSize, options.mlpHidden) : new Mlp(hiddenSize, options.mlpHidden, hiddenSize, 'gelu_tanh'),
    );
    this.adaLN = new Linear(hiddenSize, 6 * hiddenSize);
    this.childList('adaLN_modulation', [new Module(), this.adaLN]);
  }

  /** `h` `[B, T, D]`, conditioning `c` `[B, D]`. */
  forward(h: tf.Tensor3D, c: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = modulationParts(this.adaLN, c, 6);
      const a = this.attn.forward(modulate(this.norm1.forward(h), shiftMsa, scaleMsa) as tf.Tensor3D);
      const h1 = tf.add(h, tf.mul(gateMsa, a));
      const m = this.mlp.forward(modulate(this.norm2.forward(h1), shiftMlp, scaleMlp));
      return tf.add(h1, tf.mul(gateMlp, m)) as tf.Tensor3D;
    });
  }
}

/** Final adaLN layer: `linear(modulate(norm_final(h), shift, scale))` (spec §3.9). */
export class FinalLayer extends Module {
  readonly normFinal: LayerNorm;
  readonly linear: Linear;
  /** `adaLN_modulation.1` (index 0 is the parameterless SiLU). */
  readonly adaLN: Linear;

  constructor(hiddenSize: number, outputWidth: number) {
    super();
    this.normFinal = new LayerNorm(hiddenSize, { eps: 1e-6, affine: false });
    this.linear = this.child('linear', new Linear(hiddenSize, outputWidth));
    this.adaLN = new Linear(hiddenSize, 2 * hiddenSize);
    this.childList('adaLN_modulation', [new Module(), this.adaLN]);
  }

  forward(h: tf.Tensor3D, c: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [shift, scale] = modulationParts(this.adaLN, c, 2);
      return this.linear.forward(modulate(this.normFinal.forward(h), shift, scale)) as tf.Tensor3D;
    });
  }
}
