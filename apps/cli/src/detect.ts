import type { RawTensor } from '@svg/weights';

/** Names the model a state dict holds, from its keys and shapes. */
export function detectModel(sd: Map<string, RawTensor>): string {
  const has = (k: string) => sd.has(k);
  if (has('storage_tokens') && has('patch_embed.proj.weight')) return `DINOv3 ViT (embed dim ${sd.get('cls_token')?.shape.at(-1)})`;
  if (has('t_embedder.mlp.0.weight') && has('y_embedder.embedding_table.weight')) return 'SVG DiT';
  if (has('decoder.conv_in.weight')) return 'SVG autoencoder';
  return 'unknown';
}
