import { type RawTensor, type StateDictLike, findStateDict, isStateDict, readCheckpoint, toFloat32, toStateDict } from '@svg/weights';
import { DINOV3_PRESETS, type Dinov3Config, type Dinov3ConfigInput, type Dinov3PresetName, ffnHiddenDim, resolveConfig } from './config';
import { type Dinov3LoadOptions, Dinov3ViT, prepareStateDict } from './model';

/** Where weights come from: a file path (Node) or URL string, a `URL`, file bytes, or an in-memory state dict. */
export type WeightsSource = string | URL | Uint8Array | ArrayBuffer | StateDictLike;

/** Options of {@link loadDinov3}. */
export interface LoadDinov3Options extends Dinov3LoadOptions {
  /** Config fields to change after the preset is chosen or inferred. */
  overrides?: Partial<Dinov3Config>;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Reads file bytes from a path (Node), a `file:`/`http(s):` URL, or any URL `fetch` understands. */
export async function readBytes(source: string | URL): Promise<Uint8Array> {
  const text = String(source);
  const isUrl = source instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^(blob|data):/i.test(text);
  if (isNode && (!isUrl || /^file:/i.test(text))) {
    const fsName = 'node:fs/promises';
    const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
    return new Uint8Array(await fs.readFile(isUrl ? new URL(text) : text));
  }
  const response = await fetch(source);
  if (!response.ok) throw new Error(`fetching DINOv3 weights from ${text} failed: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The state dict held by a weights source: an official `.pth` (zip or legacy, possibly wrapped as
 * `{model|state_dict|ema: ...}`), a safetensors file, or a dict given directly.
 */
export async function readStateDict(source: WeightsSource): Promise<Map<string, RawTensor>> {
  if (isStateDict(source)) return toStateDict(source);
  const bytes = source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : await readBytes(source as string | URL);
  const label = typeof source === 'string' || source instanceof URL ? String(source) : undefined;
  return findStateDict(readCheckpoint(bytes, { source: label }));
}

/**
 * Loads DINOv3 ViT weights into a new model. `source`: an official `.pth` (e.g.
 * `dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth`), a safetensors file (official or Hugging Face names),
 * a checkpoint embedding the backbone under a prefix (e.g. `encoder.` of an SVG autoencoder, detected), as a
 * path (Node), URL or bytes. `preset`: a preset name or config; inferred from the weights' shapes when omitted.
 * A mismatch throws `StateDictMismatchError` naming every differing key and shape.
 *
 * @example
 * const model = await loadDinov3('dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth');
 */
export async function loadDinov3(source: WeightsSource, preset?: Dinov3ConfigInput, options: LoadDinov3Options = {}): Promise<Dinov3ViT> {
  const raw = await readStateDict(source);
  const { sd, huggingFace } = prepareStateDict(raw, options.prefix);
  const config = preset === undefined ? inferDinov3Config(sd).config : resolveConfig(preset);
  const model = new Dinov3ViT(config, options.overrides);
  model.loadStateDict(sd, { strict: options.strict ?? true, prefix: '', ropePeriods: options.ropePeriods ?? (huggingFace ? 'bf16' : undefined) });
  return model;
}

/** Result of {@link inferDinov3Config}. */
export interface InferredConfig {
  config: Dinov3Config;
  /** The hub preset the weights match exactly (depth included), else null. */
  preset: Dinov3PresetName | null;
  /** The hub preset the weights match in everything but depth, else null. */
  family: Dinov3PresetName | null;
}

/**
 * Infers the architecture from an official-names state dict (as {@link prepareStateDict} returns): width,
 * depth, storage tokens, patch size, FFN kind and width, qkv bias, untied norms; head dim from
 * `rope_embed.periods` (else the matching preset's, else 64).
 */
export function inferDinov3Config(sd: ReadonlyMap<string, RawTensor>): InferredConfig {
  const cls = sd.get('cls_token');
  const patch = sd.get('patch_embed.proj.weight');
  if (!cls || !patch) {
    const keys = [...sd.keys()].slice(0, 8).join(', ');
    throw new Error(`not a DINOv3 ViT state dict: no cls_token / patch_embed.proj.weight (first keys: ${keys || 'none'})`);
  }
  const embedDim = cls.shape[cls.shape.length - 1];
  let depth = 0;
  for (const key of sd.keys()) {
    const m = /^blocks\.(\d+)\./.exec(key);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  if (depth === 0) throw new Error('not a DINOv3 ViT state dict: no blocks.{i}.* keys');
  const fc1 = sd.get('blocks.0.mlp.fc1.weight');
  const w1 = sd.get('blocks.0.mlp.w1.weight');
  if (!fc1 && !w1) throw new Error('DINOv3 state dict: blocks.0.mlp has neither fc1 (MLP) nor w1 (SwiGLU) weights');
  const hidden = (fc1 ?? w1)!.shape[0];
  const periods = sd.get('rope_embed.periods');
  const observed = {
    embedDim,
    nStorageTokens: sd.get('storage_tokens')?.shape[1] ?? 0,
    patchSize: patch.shape[2],
    inChans: patch.shape[1],
    qkvBias: sd.has('blocks.0.attn.qkv.bias'),
    maskKBias: sd.has('blocks.0.attn.qkv.bias_mask') || !sd.has('blocks.0.attn.qkv.bias') || kBiasIsZero(sd.get('blocks.0.attn.qkv.bias')!),
    layerscaleInit: sd.has('blocks.0.ls1.gamma') ? 1e-5 : null,
    untieClsAndPatchNorms: sd.has('cls_norm.weight'),
    untieGlobalAndLocalClsNorm: sd.has('local_cls_norm.weight'),
  };
  const headDim = periods ? 4 * periods.shape[0] : null;
  for (const name of Object.keys(DINOV3_PRESETS) as Dinov3PresetName[]) {
    const p = DINOV3_PRESETS[name];
    const sameFfn = fc1 ? p.ffnLayer === 'mlp' : p.ffnLayer !== 'mlp';
    const fits =
      sameFfn &&
      ffnHiddenDim(p) === hidden &&
      p.embedDim === embedDim &&
      p.nStorageTokens === observed.nStorageTokens &&
      p.patchSize === observed.patchSize &&
      p.inChans === observed.inChans &&
      p.qkvBias === observed.qkvBias &&
      (headDim === null || p.embedDim / p.numHeads === headDim);
    if (!fits) continue;
    const config = resolveConfig(name, { depth, ...pick(observed, ['untieClsAndPatchNorms', 'untieGlobalAndLocalClsNorm', 'layerscaleInit', 'maskKBias']) });
    return { config, preset: depth === p.depth && config.untieClsAndPatchNorms === p.untieClsAndPatchNorms ? name : null, family: name };
  }
  const hd = headDim ?? 64;
  if (embedDim % hd !== 0) throw new Error(`DINOv3 state dict: width ${embedDim} is not a multiple of the head dim ${hd}; pass a config`);
  const ffn = fc1 ? { ffnLayer: 'mlp' as const, ffnRatio: hidden / embedDim } : swigluFor(embedDim, hidden);
  const config = resolveConfig('vits16', { ...observed, depth, numHeads: embedDim / hd, ...ffn });
  return { config, preset: null, family: null };
}

/** A zero k third (Hugging Face files, released weights) makes masking it a no-op. */
function kBiasIsZero(bias: RawTensor): boolean {
  const b = toFloat32(bias);
  const n = b.length / 3;
  for (let i = n; i < 2 * n; i++) if (b[i] !== 0) return false;
  return true;
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

/** A SwiGLU kind and ratio reproducing hidden width `h` (upstream rounds `int(int(D·r)·2/3)` up to the alignment). */
function swigluFor(embedDim: number, h: number): Pick<Dinov3Config, 'ffnLayer' | 'ffnRatio'> {
  for (const ffnLayer of ['swiglu', 'swiglu32', 'swiglu64', 'swiglu128'] as const) {
    const ffnRatio = (1.5 * h) / embedDim;
    if (ffnHiddenDim({ embedDim, ffnRatio, ffnLayer }) === h) return { ffnLayer, ffnRatio };
  }
  throw new Error(`DINOv3 state dict: no SwiGLU setting gives hidden width ${h} for width ${embedDim}; pass a config`);
}
