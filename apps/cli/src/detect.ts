import { inferDinov3Config, isHuggingFaceStateDict, fromHuggingFace } from '@svg/dinov3';
import { DIT_PRESETS, inferDiTConfig } from '@svg/dit';
import type { RawTensor } from '@svg/weights';

/** Names the model a state dict holds (and its preset), from its keys and shapes, using each package's inference. */
export function detectModel(sd: Map<string, RawTensor>): string {
  if (sd.has('dinov3_sp_mean') && sd.has('dinov3_sp_std')) return `SVG latent statistics (${sd.get('dinov3_sp_mean')!.shape.at(-1)} channels)`;
  if (sd.has('t_embedder.mlp.0.weight') && sd.has('ln1.weight')) {
    const c = inferDiTConfig(sd);
    const preset = Object.entries(DIT_PRESETS).find(([, p]) => p.hiddenSize === c.hiddenSize && p.depth === c.depth && p.numHeads === c.numHeads)?.[0];
    const shape = `hidden ${c.hiddenSize}, depth ${c.depth}, ${c.numHeads} heads, ${c.numClasses} classes, ${c.inputSize}×${c.inputSize} tokens of ${c.inChannels}`;
    return `SVG DiT${preset ? `-${preset}` : ''} (${shape})`;
  }
  if (sd.has('decoder.conv_in.weight')) {
    const parts = ['decoder', sd.has('encoder.cls_token') ? 'DINOv3 encoder' : null, sd.has('extra_vit.class_token') || [...sd.keys()].some((k) => k.startsWith('extra_vit.')) ? 'residual ViT' : null];
    return `SVG autoencoder (${parts.filter(Boolean).join(' + ')})`;
  }
  const dino = isHuggingFaceStateDict(sd) ? fromHuggingFace(sd) : sd;
  if (dino.has('cls_token') && dino.has('patch_embed.proj.weight')) {
    const { preset, family, config } = inferDinov3Config(dino);
    return `DINOv3 ViT ${preset ?? (family ? `${family} family, depth ${config.depth}` : `embed dim ${config.embedDim}`)}`;
  }
  if (sd.has('lin0.model.1.weight') || sd.has('lin0.weight')) return 'LPIPS linear heads';
  return 'unknown';
}
