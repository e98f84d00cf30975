// Converts a PyTorch checkpoint (.pt/.pth/.ckpt) to safetensors, without PyTorch.
// Usage (after `npx tsup` in packages/weights):
//   node examples/pth-to-safetensors.mjs ../../../shared/fixtures/checkpoints/upstream_lpips_vgg.pth /tmp/vgg.safetensors
import { basename } from 'node:path';
import { findStateDict, stripPrefix, toFloat32 } from '@svg/weights';
import { readCheckpointFile, readSafetensorsFile, writeSafetensorsFile } from '@svg/weights/node';

const [input, output] = process.argv.slice(2);
if (!input || !output) throw new Error('usage: node pth-to-safetensors.mjs <checkpoint> <out.safetensors>');

const checkpoint = await readCheckpointFile(input); // the unpickled object tree (dicts are Maps)
const stateDict = stripPrefix(findStateDict(checkpoint)); // ema / state_dict / model, 'module.' removed
await writeSafetensorsFile(output, stateDict, { source: basename(input) });

const { tensors, metadata } = await readSafetensorsFile(output);
for (const [name, t] of tensors) {
  console.log(`${name}: ${t.dtype} [${t.shape.join(', ')}] first=${toFloat32(t)[0]}`);
}
console.log(`${tensors.size} tensors written to ${output}`, metadata);
