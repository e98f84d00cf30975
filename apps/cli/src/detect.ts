import { inferDinov3Config, isHuggingFaceStateDict, fromHuggingFace } from '@svg/dinov3';
import { DIT_PRESETS, inferDiTConfig } from '@svg/dit';
import type { RawTensor } from '@svg/weights';

/** Names the model a state dict holds (and its preset), from its keys and shapes, using each package's inference. */
export function detectModel(sd: Map<string, RawTensor>): string {
  if (sd.has('dinov3_sp_mean') && sd.has('dinov3_sp_std')) return `SVG latent statistics (${sd.get('dinov3_sp_mean')!.shape.at(-1)} channels)`;
  if (sd.has('t_embedder.mlp.0.weight') && sd.has('ln1.weight')) {
    let c;
    let headsKnown = true;
    try {
      c = inferDiTConfig(sd);
    } catch (e) {
      // Without qk-norm the head count is not in the weights (unless the width is a preset's): say so, show the rest.
      if (!/numHeads/.test((e as Error).message)) return `SVG DiT? (${(e as Error).message})`;
      c = inferDiTConfig(sd, { numHeads: 1 });
      headsKnown = false;
    }
    const preset = headsKnown ? Object.entries(DIT_PRESETS).find(([, p]) => p.hiddenSize === c.hiddenSize && p.depth === c.depth && p.numHeads === c.numHeads)?.[0] : undefined;
    const heads = headsKnown ? `${c.numHeads} heads` : 'heads unknown';
    const shape = `hidden ${c.hiddenSize}, depth ${c.depth}, ${heads}, ${c.numClasses} classes, ${c.inputSize}×${c.inputSize} tokens of ${c.inChannels}`;
    const note = headsKnown ? '' : `; the head count cannot be inferred: no qk-norm, and no preset has hidden size ${c.hiddenSize}`;
    return `SVG DiT${preset ? `-${preset}` : ''} (${shape})${note}`;
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
