import * as tf from '@tensorflow/tfjs-core';

/**
 * How a parameter's PyTorch layout maps onto ours. `linear` weights are stored `[in, out]` (PyTorch `[out, in]`),
 * `conv2d` kernels `[kh, kw, in, out]` (PyTorch `[out, in, kh, kw]`); `same` is stored as PyTorch stores it.
 */
export type TorchLayout = 'same' | 'linear' | 'conv2d';

/** Produces the initial value of a parameter. Called lazily, the first time the value is needed. */
export type Initializer = (shape: number[]) => tf.Tensor;

export interface ParameterOptions {
  /** Trainable parameters are `tf.Variable`s; frozen ones (and buffers) plain tensors. Default true. */
  trainable?: boolean;
  layout?: TorchLayout;
  /** Buffers are saved in state dicts but never trained (e.g. DINOv3 `rope_embed.periods`). */
  buffer?: boolean;
}

/** One named weight of a module. Its tensor is created on first use, so huge presets cost nothing until loaded. */
export class Parameter {
  private tensor: tf.Tensor | null = null;
  readonly layout: TorchLayout;
  readonly isBuffer: boolean;
  trainable: boolean;

  constructor(
    readonly shape: number[],
    private readonly init: Initializer,
    options: ParameterOptions = {},
  ) {
    this.layout = options.layout ?? 'same';
    this.isBuffer = options.buffer ?? false;
    this.trainable = !this.isBuffer && (options.trainable ?? true);
  }

  /** The tensor (a `tf.Variable` when trainable). Never dispose it yourself. */
  get value(): tf.Tensor {
    if (!this.tensor) this.set(tf.tidy(() => this.init(this.shape)));
    return this.tensor!;
  }

  /** As `value`, typed as a variable; throws for frozen parameters. */
  get variable(): tf.Variable {
    const v = this.value;
    if (!(v instanceof tf.Variable)) throw new Error('parameter is frozen: it has no tf.Variable');
    return v;
  }

  get allocated(): boolean {
    return this.tensor !== null;
  }

  /** The shape PyTorch uses for this parameter. */
  get torchShape(): number[] {
    const s = this.shape;
    if (this.layout === 'linear') return [s[1], s[0]];
    if (this.layout === 'conv2d') return [s[3], s[2], s[0], s[1]];
    return s;
  }

  /** Replaces the value (takes ownership of `t`, which must have this parameter's shape). */
  set(t: tf.Tensor): void {
    if (!tf.util.arraysEqual(t.shape, this.shape)) {
      throw new Error(`parameter shape [${this.shape}] cannot take a tensor of shape [${t.shape}]`);
    }
    const value = t.dtype === 'float32' ? t : tf.cast(t, 'float32');
    if (value !== t) t.dispose();
    if (this.tensor instanceof tf.Variable && this.trainable) {
      this.tensor.assign(value);
      value.dispose();
      return;
    }
    this.tensor?.dispose();
    this.tensor = this.trainable ? tf.variable(value, true) : tf.keep(value);
    if (this.trainable) value.dispose();
  }

  /** Switches between trainable (variable) and frozen (plain tensor), keeping the value. */
  setTrainable(trainable: boolean): void {
    if (this.isBuffer || trainable === this.trainable) return;
    this.trainable = trainable;
    if (!this.tensor) return;
    const old = this.tensor;
    this.tensor = null;
    this.set(tf.clone(old));
    old.dispose();
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = null;
  }
}

/**
 * Base class of every layer and model. Parameters and children are registered under PyTorch's attribute names,
 * so `namedParameters()` yields exactly the keys of the upstream `state_dict()`.
 */
export class Module {
  /** Train mode enables dropout and other train-only behaviour. Set with `train()` / `eval()`. */
  training = false;
  private readonly params = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();

  protected param(name: string, shape: number[], init: Initializer, options?: ParameterOptions): Parameter {
    const p = new Parameter(shape, init, options);
    this.params.set(name, p);
    return p;
  }

  protected buffer(name: string, shape: number[], init: Initializer): Parameter {
    return this.param(name, shape, init, { buffer: true });
  }

  protected child<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  /** Registers a list of modules as children `name.0`, `name.1`, ... (PyTorch's `nn.ModuleList`). */
  protected childList<M extends Module>(name: string, modules: M[]): M[] {
    const list = new Module();
    modules.forEach((m, i) => list.children.set(String(i), m));
    this.children.set(name, list);
    return modules;
  }

  /** Every parameter and buffer with its dotted PyTorch name, depth-first in registration order. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Trainable parameters only. */
  trainableParameters(): [string, Parameter][] {
    return this.namedParameters().filter(([, p]) => p.trainable);
  }

  /** Number of scalar weights (buffers excluded). */
  parameterCount(): number {
    return this.namedParameters()
      .filter(([, p]) => !p.isBuffer)
      .reduce((n, [, p]) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes (or unfreezes) every parameter of this module and its children. */
  setTrainable(trainable: boolean): this {
    for (const [, p] of this.namedParameters()) p.setTrainable(trainable);
    return this;
  }

  /** Frees every parameter tensor. The module can still be loaded again. */
  dispose(): void {
    for (const [, p] of this.namedParameters()) p.dispose();
  }
}
