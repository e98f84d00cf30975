#!/usr/bin/env node
// Encodes an image to the 392-channel SVG latent and decodes it back (Node).
//
//   node examples/reconstruct.mjs <checkpoint.ckpt> <config.yaml> <image> <out.png> [dinov3.pth] [backend]
//
// checkpoint: the autoencoder's Lightning .ckpt (or any state-dict file); config: its upstream YAML;
// dinov3.pth: the DINOv3 ViT-S/16+ weights, needed only when the checkpoint has no encoder.* keys;
// backend: wasm (default), cpu or webgpu. The image is resized to 256×256 (no crop).
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@svg/nn';
import { loadSvgAutoencoder } from '@svg/autoencoder';

const [ckpt, config, image, out, dinov3, backend = 'wasm'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/reconstruct.mjs <checkpoint> <config.yaml> <image> <out.png> [dinov3.pth|-] [backend]');
  process.exit(2);
}
await initBackend(backend);
const ae = await loadSvgAutoencoder(ckpt, { config, dinov3: dinov3 && dinov3 !== '-' ? dinov3 : undefined });

const { data } = await sharp(image).resize(256, 256, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const images = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(new Uint8Array(data), [1, 256, 256, 3], 'int32'), 127.5), 1)); // [-1, 1]
const latent = ae.encode(images);
console.log(`latent ${latent.shape}`); // 1,16,16,392
const recon = ae.decode(latent, { clamp: true });
const pixels = tf.tidy(() => tf.cast(tf.round(tf.mul(tf.add(recon, 1), 127.5)), 'int32'));
await sharp(Buffer.from(Uint8Array.from(await pixels.data())), { raw: { width: 256, height: 256, channels: 3 } }).png().toFile(out);
console.log(`wrote ${out}`);
tf.dispose([images, latent, recon, pixels]);
if (tf.findBackend('wasm')) tf.removeBackend('wasm'); // lets Node exit when the threaded wasm backend is up
