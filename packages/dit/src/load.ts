import { loadStateDict } from '@svg/nn';
import { type RawTensor, type StateDictLike, findStateDict, isStateDict, readCheckpoint, stripPrefix } from '@svg/weights';
import { DIT_PRESETS, type DiTConfig, type DiTConfigInput, resolveConfig } from './config';
import { DiT } from './dit';

/** What {@link loadDiT} accepts: checkpoint bytes, a state dict, or an already-read checkpoint object. */
export type DiTSource = Uint8Array | ArrayBuffer | StateDictLike | object;

/**
 * Every config field that the weights determine (`inChannels`, `hiddenSize`, `depth`, `mlpRatio`, `useSwiglu`,
 * `qkNorm`, `learnSigma`, `patchSize`, `numClasses`, and `numHeads` when the q/k norms reveal the head width).
 * Not recoverable from weights: `numHeads` without qk-norm (taken from the standard preset of that width, if any),
 * and whether a table row is the null class (assumed, i.e. `classDropoutProb` > 0, as in every SVG model).
 */
export function inferDiTConfig(stateDict: StateDictLike, given: DiTConfigInput = {}): DiTConfig {
  const sd = stateDict instanceof Map ? (stateDict as ReadonlyMap<string, RawTensor>) : new Map(Object.entries(stateDict as Record<string, RawTensor>));
  const shape = (key: string): number[] => {
    const t = sd.get(key);
    if (!t) throw new Error(`cannot infer the DiT config: the state dict has no "${key}" (is this a DiT checkpoint?)`);
    return t.shape;
  };
  const [hiddenSize, inChannels] = shape('ln1.weight');
  let depth = 0;
  while (sd.has(`blocks.${depth}.attn.qkv.weight`)) depth++;
  const useSwiglu = sd.has('blocks.0.mlp.gate_proj.weight');
  const mlpHidden = depth > 0 ? shape(useSwiglu ? 'blocks.0.mlp.gate_proj.weight' : 'blocks.0.mlp.fc1.weight')[0] : 4 * hiddenSize;
  const qkNorm = sd.has('blocks.0.attn.q_norm.weight');
  const perChannel = shape('final_layer.linear.weight')[0] / inChannels;
  const learnSigma = isSquare(perChannel / 2) && !isSquare(perChannel);
  const patchSize = Math.round(Math.sqrt(learnSigma ? perChannel / 2 : perChannel));
  const dropout = given.classDropoutProb ?? 0.1;
  const numClasses = shape('y_embedder.embedding_table.weight')[0] - (dropout > 0 ? 1 : 0);
  let numHeads = given.numHeads;
  if (numHeads === undefined && qkNorm) numHeads = hiddenSize / shape('blocks.0.attn.q_norm.weight')[0];
  if (numHeads === undefined) numHeads = Object.values(DIT_PRESETS).find((p) => p.hiddenSize === hiddenSize)?.numHeads;
  if (numHeads === undefined) {
    throw new Error(`cannot infer numHeads of a DiT without qk-norm and hidden size ${hiddenSize}: pass it in the config`);
  }
  const posTokens = sd.get('pos_embed')?.shape[1] ?? 256;
  if (!isSquare(posTokens)) throw new Error(`pos_embed has ${posTokens} tokens: not a square grid`);
  const inferred: DiTConfigInput = {
    inputSize: Math.round(Math.sqrt(posTokens)),
    inChannels,
    hiddenSize,
    depth,
    numHeads,
    mlpRatio: mlpHidden / hiddenSize,
    useSwiglu,
    qkNorm,
    learnSigma,
    patchSize,
    numClasses,
    classDropoutProb: dropout,
  };
  return resolveConfig({ ...inferred, ...given });
}

function isSquare(n: number): boolean {
  return Number.isInteger(n) && n > 0 && Number.isInteger(Math.round(Math.sqrt(n))) && Math.round(Math.sqrt(n)) ** 2 === n;
}

/** The DiT state dict inside `source` (`{"ema": ...}`, `{"model": ...}`, Lightning `state_dict`, `module.` prefixes). */
export function ditStateDict(source: DiTSource): Map<string, RawTensor> {
  let obj: unknown = source;
  if (source instanceof ArrayBuffer) obj = readCheckpoint(new Uint8Array(source));
  else if (source instanceof Uint8Array) obj = readCheckpoint(source);
  const sd = isStateDict(obj) ? obj : findStateDict(obj, ['ema', 'model', 'state_dict']);
  return stripPrefix(sd, ['module.', 'model.']);
}

/**
 * A DiT with the weights of an official checkpoint: `torch.save` bytes (train_svg.py's `{"ema": ...}`, a plain
 * state dict, `.pt`/`.pth` zip or legacy), safetensors bytes, or a state dict. Loading is strict (defect D26 is not
 * copied): every key must match in name and shape. Fields missing from `config` are inferred from the weight
 * shapes ({@link inferDiTConfig}). The model is returned in eval mode. For files use `loadDiTFile` from
 * `@svg/dit/node`.
 *
 * @example
 * const model = loadDiT(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 */
export function loadDiT(source: DiTSource, config: DiTConfigInput = {}): DiT {
  const sd = ditStateDict(source);
  const model = new DiT(inferDiTConfig(sd, config));
  try {
    loadStateDict(model, sd, { strict: true });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model.eval();
}
