#!/usr/bin/env node
/**
 * Retrains the shipped Fashion-MNIST SVG from scratch with the `svg` command (npm run train:demo), stage by stage:
 *
 *   1. encoder      svg train classifier --config configs/fashion-mnist/encoder.yaml    (the frozen DINOv3-style encoder)
 *   2. autoencoder  svg train autoencoder --config configs/fashion-mnist/autoencoder.yaml
 *   3. latents      svg data fashion-mnist; svg cache (with mirrored copies); svg stats
 *   4. dit          svg train dit --config configs/fashion-mnist/dit.yaml
 *   5. judge        svg train classifier --config configs/fashion-mnist/classifier.yaml (the independent CNN)
 *   6. export       svg convert --dtype f16 into packages/model-fashion-mnist, svg-model.json, samples.png
 *   7. measure      svg reconstruct (test-set PSNR) and svg eval (1,000 samples: 25 steps, 5 steps, no guidance)
 *
 * Everything goes to runs/fashion-mnist/. Kill it at any point (kill -9 included) and run it again: finished stages
 * are skipped, a stage that was cut off resumes from its last checkpoint (the trainers resume bit for bit; the cache
 * keeps its complete shards). Wall times per stage are added to runs/fashion-mnist/timings.json.
 *
 *   node tools/train-demo.mjs [--until <stage>] [--backend wasm] [--out packages/model-fashion-mnist]
 *
 * Stages are skipped when their output exists (eval.json of a classifier run, the exported autoencoder, the cache's
 * index.json, the statistics); the trainers are always called with --resume when their run has checkpoints, so a
 * finished run stops at once. export and measure always run.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const backend = flag('backend', 'wasm');
const until = flag('until', 'measure');
const outDir = join(root, flag('out', 'packages/model-fashion-mnist'));
const runs = join(root, 'runs/fashion-mnist');
const configs = join(root, 'configs/fashion-mnist');
const cli = join(root, 'apps/cli/dist/main.js');
const STAGES = ['encoder', 'autoencoder', 'latents', 'dit', 'judge', 'export', 'measure'];
if (!STAGES.includes(until)) fail(`--until must be one of ${STAGES.join(', ')}`);

const exists = (p) => stat(p).then(() => true, () => false);
function fail(message) {
  console.error(`train-demo: ${message}`);
  process.exit(2);
}
function svg(...argv) {
  console.error(`\n$ svg ${argv.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const r = spawnSync(process.execPath, [cli, ...argv], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) fail(`svg ${argv[0]} failed (exit ${r.status ?? r.signal}); run this script again to continue`);
}
async function hasCheckpoints(runDir) {
  const dir = join(runDir, 'checkpoints');
  return (await exists(dir)) && (await readdir(dir)).some((n) => /^\d{7,}$/.test(n));
}
async function latestCheckpoint(runDir) {
  const names = (await readdir(join(runDir, 'checkpoints'))).filter((n) => /^\d{7,}$/.test(n)).sort();
  if (names.length === 0) fail(`${runDir} has no checkpoint`);
  return join(runDir, 'checkpoints', names.at(-1));
}
/** `svg train <kind>`, resuming when the run folder already has checkpoints (a finished run then stops at once). */
async function train(kind, config, runDir) {
  svg('train', kind, '--config', config, '--backend', backend, ...((await hasCheckpoints(runDir)) ? ['--resume'] : []));
}
async function writeAtomically(path, text) {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
async function timed(stage, fn) {
  const started = Date.now();
  await fn();
  const file = join(runs, 'timings.json');
  const timings = (await exists(file)) ? JSON.parse(await readFile(file, 'utf8')) : {};
  timings[stage] = (timings[stage] ?? 0) + (Date.now() - started) / 1000;
  await writeAtomically(file, `${JSON.stringify(timings, null, 2)}\n`);
}

if (!(await exists(cli))) fail('build first: npm run build');
await mkdir(runs, { recursive: true });
const model = join(runs, 'model');
const aeYaml = join(model, 'autoencoder.yaml');

for (const stage of STAGES.slice(0, STAGES.indexOf(until) + 1)) {
  await timed(stage, async () => {
    if (stage === 'encoder') {
      if (!(await exists(join(runs, 'encoder/eval.json')))) await train('classifier', join(configs, 'encoder.yaml'), join(runs, 'encoder'));
    } else if (stage === 'autoencoder') {
      if (await exists(aeYaml)) return;
      await train('autoencoder', join(configs, 'autoencoder.yaml'), join(runs, 'autoencoder'));
      // The trained autoencoder as a loadable pair: weights (encoder included) + its config with ckpt_path set.
      const last = await latestCheckpoint(join(runs, 'autoencoder'));
      svg('convert', join(last, 'model.safetensors'), join(model, 'autoencoder.safetensors'));
      const doc = parseYaml(await readFile(join(configs, 'autoencoder.yaml'), 'utf8'));
      doc.ckpt_path = 'autoencoder.safetensors';
      delete doc.train;
      await writeAtomically(aeYaml, `# The trained stage-2 autoencoder of the Fashion-MNIST SVG (written by tools/train-demo.mjs).\n${stringifyYaml(doc)}`);
    } else if (stage === 'latents') {
      const images = join(runs, 'images');
      svg('data', 'fashion-mnist', '--out', images);
      const ae = ['--autoencoder', join(model, 'autoencoder.safetensors'), '--config', aeYaml, '--backend', backend];
      if (!(await exists(join(runs, 'latents/index.json')))) svg('cache', join(images, 'train'), ...ae, '--out', join(runs, 'latents'));
      if (!(await exists(join(runs, 'stats.safetensors')))) svg('stats', join(images, 'train'), ...ae, '--batch', '32', '--limit', '10000', '--out', join(runs, 'stats.safetensors'));
    } else if (stage === 'dit') {
      await train('dit', join(configs, 'dit.yaml'), join(runs, 'dit'));
    } else if (stage === 'judge') {
      if (!(await exists(join(runs, 'classifier/eval.json')))) await train('classifier', join(configs, 'classifier.yaml'), join(runs, 'classifier'));
    } else if (stage === 'export') {
      await mkdir(outDir, { recursive: true });
      const ditCkpt = await latestCheckpoint(join(runs, 'dit'));
      // The EMA weights, as SVG ships them (the raw weights stay in the checkpoints).
      svg('convert', join(ditCkpt, 'ema.safetensors'), join(outDir, 'dit.safetensors'), '--dtype', 'f16');
      svg('convert', join(model, 'autoencoder.safetensors'), join(outDir, 'autoencoder.safetensors'), '--dtype', 'f16');
      svg('convert', join(runs, 'classifier/backbone.safetensors'), join(outDir, 'classifier.safetensors'), '--dtype', 'f16');
      await copyFile(join(runs, 'stats.safetensors'), join(outDir, 'stats.safetensors'));
      await copyFile(aeYaml, join(outDir, 'autoencoder.yaml'));
      const ditConfig = parseYaml(await readFile(join(configs, 'dit.yaml'), 'utf8'));
      const manifest = {
        format: 'svg-model',
        version: 1,
        name: 'SVG Fashion-MNIST (svg-ts demo)',
        dit: 'dit.safetensors',
        autoencoder: 'autoencoder.safetensors',
        autoencoderConfig: 'autoencoder.yaml',
        stats: 'stats.safetensors',
        classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
        imageSize: 32,
        sampling: { steps: 25, cfg: 4, shift: ditConfig.train.sample_shift, mode: 'euler', cfgMode: 'constant' },
        classifier: 'classifier.safetensors',
      };
      await writeAtomically(join(outDir, 'svg-model.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      svg('sample', '--model', outDir, '--seed', '0', '--scale', '4', '--backend', backend, '--out', join(outDir, 'samples.png'));
    } else if (stage === 'measure') {
      // The model card's numbers: autoencoder PSNR on the test split, and the judge's verdict on 1,000 samples at
      // the model's settings, at 5 steps, and without guidance.
      svg('reconstruct', join(runs, 'images/test'), '--model', outDir, '--backend', backend);
      svg('eval', '--model', outDir, '--num', '1000', '--backend', backend, '--json', join(runs, 'eval/cfg4-25steps.json'));
      svg('eval', '--model', outDir, '--num', '1000', '--steps', '5', '--backend', backend, '--json', join(runs, 'eval/cfg4-5steps.json'));
      svg('eval', '--model', outDir, '--num', '1000', '--cfg', '1', '--backend', backend, '--json', join(runs, 'eval/cfg1-25steps.json'));
      console.error(`\nthe model is in ${relative(root, outDir)}; the evaluation in ${relative(root, join(runs, 'eval'))}`);
    }
  });
}
