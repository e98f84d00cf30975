import { type RawTensor, toFloat32 } from '@svg/weights';

/** Whether a state dict uses Hugging Face `DINOv3ViTModel` names (`embeddings.*`, `layer.{i}.*`). */
export function isHuggingFaceStateDict(sd: ReadonlyMap<string, RawTensor>): boolean {
  for (const key of sd.keys()) if (/^(model\.)?(embeddings\.|layer\.\d+\.)/.test(key)) return true;
  return false;
}

const concat = (parts: Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/**
 * Renames a Hugging Face `DINOv3ViTModel` state dict to the official DINOv3 names (the reverse of
 * `convert_dinov3_vit_to_hf.py`): q/k/v projections are concatenated into `qkv` (k bias = 0, as HF drops it),
 * `mask_token` is squeezed to `[1, D]`, `register_tokens` → `storage_tokens`, `layer_scaleK.lambda1` →
 * `lsK.gamma`, and the MLP/SwiGLU names are mapped (`gate_proj`/`up_proj`/`down_proj` → `w1`/`w2`/`w3` in
 * gated models, `up_proj`/`down_proj` → `fc1`/`fc2` otherwise). The buffers HF does not store
 * (`rope_embed.periods`, `bias_mask`) are left for the loader to supply. `rope_embeddings.*` keys are dropped.
 */
export function fromHuggingFace(sd: ReadonlyMap<string, RawTensor>): Map<string, RawTensor> {
  const src = new Map<string, RawTensor>();
  for (const [k, v] of sd) src.set(k.replace(/^model\./, ''), v);
  const out = new Map<string, RawTensor>();
  const used = new Set<string>();
  const take = (key: string): RawTensor | undefined => {
    const t = src.get(key);
    if (t) used.add(key);
    return t;
  };
  const put = (key: string, t: RawTensor | undefined) => {
    if (t) out.set(key, t);
  };

  put('cls_token', take('embeddings.cls_token'));
  const mask = take('embeddings.mask_token');
  if (mask) out.set('mask_token', { ...mask, shape: [1, mask.shape[mask.shape.length - 1]] });
  put('storage_tokens', take('embeddings.register_tokens'));
  for (const name of ['weight', 'bias']) {
    put(`patch_embed.proj.${name}`, take(`embeddings.patch_embeddings.${name}`) ?? take(`embeddings.patch_embeddings.proj.${name}`));
  }
  put('norm.weight', take('norm.weight'));
  put('norm.bias', take('norm.bias'));

  const layers = new Set<number>();
  for (const key of src.keys()) {
    const m = /^layer\.(\d+)\./.exec(key);
    if (m) layers.add(Number(m[1]));
  }
  for (const i of [...layers].sort((a, b) => a - b)) {
    const hf = `layer.${i}.`;
    const ours = `blocks.${i}.`;
    for (const n of ['norm1', 'norm2']) for (const p of ['weight', 'bias']) put(`${ours}${n}.${p}`, take(`${hf}${n}.${p}`));
    const proj = (short: string, long: string, p: string) => take(`${hf}attention.${short}_proj.${p}`) ?? take(`${hf}attention.${long}.${p}`);
    const [qw, kw, vw] = [proj('q', 'query', 'weight'), proj('k', 'key', 'weight'), proj('v', 'value', 'weight')];
    if (qw && kw && vw) {
      const d = qw.shape[1];
      out.set(`${ours}attn.qkv.weight`, { dtype: 'F32', shape: [3 * qw.shape[0], d], data: concat([qw, kw, vw].map(toFloat32)) });
      const [qb, kb, vb] = [proj('q', 'query', 'bias'), proj('k', 'key', 'bias'), proj('v', 'value', 'bias')];
      if (qb || vb) {
        const n = qw.shape[0];
        const part = (t: RawTensor | undefined) => (t ? toFloat32(t) : new Float32Array(n));
        out.set(`${ours}attn.qkv.bias`, { dtype: 'F32', shape: [3 * n], data: concat([part(qb), part(kb), part(vb)]) });
      }
    }
    for (const p of ['weight', 'bias']) put(`${ours}attn.proj.${p}`, take(`${hf}attention.o_proj.${p}`));
    put(`${ours}ls1.gamma`, take(`${hf}layer_scale1.lambda1`));
    put(`${ours}ls2.gamma`, take(`${hf}layer_scale2.lambda1`));
    const gated = src.has(`${hf}mlp.gate_proj.weight`);
    const mlpNames: [string, string][] = gated
      ? [['gate_proj', 'w1'], ['up_proj', 'w2'], ['down_proj', 'w3']]
      : [['up_proj', 'fc1'], ['down_proj', 'fc2']];
    for (const [from, to] of mlpNames) for (const p of ['weight', 'bias']) put(`${ours}mlp.${to}.${p}`, take(`${hf}mlp.${from}.${p}`));
  }
  // Anything unrecognised is passed through (strict loading then reports it), except HF's recomputed RoPE buffer.
  for (const [key, t] of src) if (!used.has(key) && !key.startsWith('rope_embeddings.')) out.set(key, t);
  return out;
}
