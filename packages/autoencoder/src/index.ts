/**
 * @svg/autoencoder: the SVG autoencoder (arXiv 2510.15301) on tfjs — frozen DINOv3 features plus a residual ViT as
 * the 392-channel latent, the LDM convolutional decoder, and the training losses. Images and latents are NHWC.
 *
 * @example
 * const ae = await loadSvgAutoencoder(ckptBytes, { config: yamlText, dinov3: dinoBytes });
 * const latent = ae.encode(images);            // images [B, 256, 256, 3] in [-1, 1] → [B, 16, 16, 392]
 * const recon = ae.decode(latent, { clamp: true });
 */
export {
  type SvgAutoencoderConfig,
  type DinoConfig,
  type ExtraVitConfig,
  SVG_AUTOENCODER_CONFIG,
  parseSvgAutoencoderConfig,
} from './config';
export {
  type CreateSvgAutoencoderOptions,
  type SvgLoadOptions,
  type SvgEncoding,
  type DecodeOptions,
  SvgAutoencoder,
  createSvgAutoencoder,
} from './autoencoder';
export { type DecoderConfig, LdmDecoder, ResnetBlock, AttnBlock, Upsample } from './decoder';
export { type ResidualVitConfig, RESIDUAL_VIT_DEFAULTS, ResidualVit } from './residual-vit';
export { matchDistribution, detach } from './match-distribution';
export { type LoadSvgAutoencoderOptions, loadSvgAutoencoder } from './load';
export { Lpips } from './lpips';
export { BatchNorm2d, type DiscriminatorOptions, NLayerDiscriminator } from './discriminator';
export {
  type SvgLossConfig,
  type GeneratorLossArgs,
  type DiscriminatorLossArgs,
  type LossResult,
  LpipsWithDiscriminator,
  adoptWeight,
  hingeDLoss,
  vanillaDLoss,
  adaptiveWeight,
  convWeightGradient,
} from './loss';
