// Writes small seeded-random SVG checkpoints for demos and tests (run after `npm run build`; optional argument: the
// output folder, default configs/tiny):
//   configs/tiny/dit.safetensors          a DiT (hidden 64, depth 2, 4 heads, 1000 classes, 256×392 tokens)
//   configs/tiny/autoencoder.safetensors  the autoencoder of configs/tiny/autoencoder.yaml (decoder + encoder)
// Weights follow the upstream initialisation, then get seeded noise so that nothing is exactly zero (the adaLN-Zero
// output layer would otherwise make the velocity zero). They are untrained: images look like coloured noise.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createSvgAutoencoder, parseSvgAutoencoderConfig } from '@svg/autoencoder';
import { createDiT } from '@svg/dit';
import { SeededRandom, initBackend, setInitSeed, stateDict } from '@svg/nn';
import { writeSafetensorsFile } from '@svg/weights/node';

const configDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'configs', 'tiny');
const out = process.argv[2] ?? configDir;
await initBackend('cpu');
const rng = new SeededRandom(2025);

function perturb(module, scale) {
  for (const [, p] of module.namedParameters()) {
    if (p.isBuffer) continue;
    const n = p.shape.reduce((a, b) => a * b, 1);
    const fanIn = p.shape.length >= 2 ? n / p.shape.at(-1) : 1;
    p.set(tf.tidy(() => tf.add(p.value, tf.tensor(rng.normalArray(n, 0, scale / Math.sqrt(fanIn)), p.shape))));
  }
}

setInitSeed(1);
const dit = createDiT({ hiddenSize: 64, depth: 2, numHeads: 4, numClasses: 1000 });
perturb(dit, 0.5);
await writeSafetensorsFile(join(out, 'dit.safetensors'), await stateDict(dit), { model: 'svg-dit', note: 'seeded random weights for tests' });

const config = parseSvgAutoencoderConfig(readFileSync(join(configDir, 'autoencoder.yaml'), 'utf8'));
const ae = createSvgAutoencoder(config);
perturb(ae, 0.1);
await writeSafetensorsFile(join(out, 'autoencoder.safetensors'), await stateDict(ae), { model: 'svg-autoencoder', note: 'seeded random weights for tests' });
console.log(`wrote ${out}/dit.safetensors and autoencoder.safetensors`);
