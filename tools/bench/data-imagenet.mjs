#!/usr/bin/env node
// Benchmark of @svg/data-imagenet against its built dist (run `npx tsup` in packages/data-imagenet first):
//   node tools/bench/data-imagenet.mjs [--images 96] [--workers 2] [--latents 256]
// 1. ADM crop alone (Pillow-exact resampler, calling thread) on ImageNet-sized photos;
// 2. the loader: decode (sharp) + ADM crop 256 + flip + ImageNet normalisation, NCHW batches of 32,
//    on worker threads (default 2 = the 2 cores) and on the calling thread;
// 3. latent cache: reading [392, 16, 16] float32 latents (+ mirrored variants) in shuffled batches of 32.
// Test photos come from Debian's python3-skimage, resized to ImageNet's typical 500×375 / 375×500 and, one in
// eight, 1200×900 (exercises the BOX halving), saved as JPEG q90.
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { centerCropArr } from '@svg/data-imagenet';
import { ImageLoader, LatentCache, decodeImageFile, scanImageFolder, writeLatentCache } from '@svg/data-imagenet/node';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '96' },
    workers: { type: 'string', default: '2' },
    latents: { type: 'string', default: '256' },
  },
});
const nImages = Number(values.images);
const workers = Number(values.workers);
const nLatents = Number(values.latents);

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'motorcycle_left.png', 'hubble_deep_field.jpg', 'ihc.png', 'retina.jpg'];
const root = join(tmpdir(), `svg-data-bench-${process.pid}`);

async function makeFolder() {
  rmSync(root, { recursive: true, force: true });
  for (let i = 0; i < nImages; i++) {
    const cls = join(root, `n0000000${i % 4}`);
    mkdirSync(cls, { recursive: true });
    const [w, h] = i % 8 === 7 ? [1200, 900] : i % 2 ? [375, 500] : [500, 375];
    const photo = join(SKIMAGE, PHOTOS[i % PHOTOS.length]);
    await sharp(photo).removeAlpha().resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(join(cls, `img_${i}.JPEG`));
  }
}

function rate(n, ms) {
  return ((n / ms) * 1000).toFixed(1);
}

/** Wall time and process CPU time (all threads: workers and libuv included) of `f`. */
async function timed(f) {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const n = await f();
  const wall = performance.now() - t;
  const { user, system } = process.cpuUsage(cpu);
  return { n, wall, cpu: (user + system) / 1000 };
}

/** "X img/s (Y ms CPU per image → ~Z img/s on 2 idle cores)": the CPU figure does not depend on machine load. */
function report({ n, wall, cpu }) {
  const perImage = cpu / n;
  return `${rate(n, wall)} img/s wall; ${perImage.toFixed(2)} ms CPU/img (~${(2000 / perImage).toFixed(0)} img/s on 2 idle cores)`;
}

async function benchCrop(dataset) {
  const decoded = await Promise.all(dataset.samples.map((s) => decodeImageFile(s.path)));
  for (const img of decoded.slice(0, 8)) centerCropArr(img, 256);
  const r = await timed(async () => {
    for (const img of decoded) centerCropArr(img, 256);
    return decoded.length;
  });
  return `${rate(r.n, r.wall)} img/s wall; ${(r.cpu / r.n).toFixed(2)} ms CPU/img`;
}

async function benchLoader(dataset, w) {
  const loader = new ImageLoader({ dataset, batchSize: 32, imageSize: 256, workers: w, prefetch: 3, seed: 1 });
  try {
    for await (const _ of loader.batches({ epochs: 1 })); // warm-up: workers start, JIT
    return report(
      await timed(async () => {
        let n = 0;
        for await (const b of loader.batches({ from: { epoch: 1, index: 0 }, epochs: 2 })) n += b.shape[0];
        return n;
      }),
    );
  } finally {
    await loader.close();
  }
}

async function benchLatents(dataset) {
  const dir = join(root, 'latents');
  const latentShape = [392, 16, 16];
  const size = 392 * 256;
  const subset = { ...dataset, samples: Array.from({ length: nLatents }, (_, i) => dataset.samples[i % dataset.samples.length]) };
  const encode = async (images, shape) => {
    const out = new Float32Array(shape[0] * size);
    for (let i = 0; i < out.length; i++) out[i] = images[i % images.length];
    return out;
  };
  let t = performance.now();
  await writeLatentCache({ dataset: subset, dir, encode, latentShape, batchSize: 32, shardSize: 128, workers });
  const writeRate = rate(nLatents, performance.now() - t);
  const cache = await LatentCache.open(dir);
  try {
    for await (const _ of cache.batches({ batchSize: 32, epochs: 1 })); // warm page cache
    let n = 0;
    t = performance.now();
    for await (const b of cache.batches({ batchSize: 32, from: { epoch: 1, index: 0 }, epochs: 3 })) n += b.shape[0];
    const ms = performance.now() - t;
    return { writeRate, readRate: rate(n, ms), mbPerS: ((n * size * 4) / 1e6 / (ms / 1000)).toFixed(0) };
  } finally {
    await cache.close();
  }
}

await makeFolder();
const dataset = await scanImageFolder(root);
console.log(`${dataset.samples.length} JPEGs (7/8 at 500×375 or 375×500, 1/8 at 1200×900); load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`ADM crop to 256 only (calling thread): ${await benchCrop(dataset)}`);
console.log(`loader decode+crop+flip+normalise 256, ${workers} worker(s): ${await benchLoader(dataset, workers)}`);
console.log(`loader decode+crop+flip+normalise 256, calling thread: ${await benchLoader(dataset, 0)}`);
const l = await benchLatents(dataset);
console.log(`latent cache [392,16,16] f32: write (decode+crop+trivial encoder, flips) ${l.writeRate} img/s`);
console.log(`latent cache read, shuffled batches of 32 (page cache warm): ${l.readRate} latents/s = ${l.mbPerS} MB/s`);
console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
rmSync(root, { recursive: true, force: true });
