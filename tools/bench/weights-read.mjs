// Read speed of readSafetensorsFile on a large file.
// Usage: (cd packages/weights && npx tsup) && node --expose-gc tools/bench/weights-read.mjs [sizeMB=500] [path=/tmp/svg-bench.safetensors]
import { rmSync, statSync } from 'node:fs';
import { readSafetensorsFile, writeSafetensorsFile } from '../../packages/weights/dist/node.js';

const sizeMB = Number(process.argv[2] ?? 500);
const path = process.argv[3] ?? '/tmp/svg-bench.safetensors';
const tensorMB = 16;
const tensors = new Map();
for (let i = 0; i < Math.ceil(sizeMB / tensorMB); i++) {
  const data = new Float32Array((tensorMB << 20) / 4);
  for (let j = 0; j < data.length; j += 1024) data[j] = i + j;
  tensors.set(`layer.${i}.weight`, { dtype: 'F32', shape: [data.length / 1024, 1024], data });
}

let t = performance.now();
await writeSafetensorsFile(path, tensors, { bench: 'true' });
const writeS = (performance.now() - t) / 1000;
const bytes = statSync(path).size;
const mb = bytes / 2 ** 20;
console.log(`wrote ${mb.toFixed(0)} MiB in ${writeS.toFixed(2)} s (${(mb / writeS).toFixed(0)} MiB/s, includes fsync)`);

const count = tensors.size;
tensors.clear(); // keep only one copy in memory while reading
const rates = [];
for (let i = 0; i < 5; i++) {
  globalThis.gc?.();
  t = performance.now();
  const { tensors: back } = await readSafetensorsFile(path);
  const s = (performance.now() - t) / 1000;
  if (back.size !== count) throw new Error('tensor count mismatch');
  rates.push(mb / s);
}
rates.sort((a, b) => a - b);
console.log(`read all, 5 runs (page cache warm): median ${rates[2].toFixed(0)} MiB/s, best ${rates[4].toFixed(0)}, worst ${rates[0].toFixed(0)}`);
t = performance.now();
const { tensors: some } = await readSafetensorsFile(path, { names: ['layer.3.weight', 'layer.17.weight'] });
const s = (performance.now() - t) / 1000;
console.log(`read 2 of ${count} tensors (${(2 * tensorMB)} MiB): ${(s * 1000).toFixed(1)} ms, ${some.size} tensors`);
rmSync(path);
