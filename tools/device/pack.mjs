#!/usr/bin/env node
/**
 * Packs the GPU benchmark for the device machine (issue #16), which has a GPU, PyTorch CUDA and Python but no Node,
 * no npm and no internet: everything the benchmark needs goes into one file, `.device/pack.tar.xz` (git-ignored,
 * carried to the device with `carry: [".device"]`), which tools/device/run.sh unpacks and runs there.
 *
 *   npm run build && node tools/device/pack.mjs      # → .device/pack.tar.xz (about 30 MiB)
 *
 * The pack holds: this machine's Node binary (it links only glibc and libstdc++); tools/bench/run.mjs bundled with
 * esbuild together with the built @svg packages and tfjs (one file, the same code the CPU benchmark runs); the
 * PyTorch scripts it calls (tools/bench/*_torch.py); the npm package `webgpu` (Dawn's dawn.node) for linux-x64; the
 * Vulkan loader libvulkan.so.1, used there only when the system has none; tools/device/probe.mjs.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bench = join(root, 'tools/bench');
const outDir = join(root, '.device');
const packFile = join(outDir, 'pack.tar.xz');
// The device's working tree travels whole (repository + carried paths) and may not pass 64 MiB.
const LIMIT_BYTES = 48 * 2 ** 20;
const TORCH_SCRIPTS = ['torch_common.py', 'dit_torch.py', 'dinov3_torch.py', 'autoencoder_torch.py', 'image_torch.py'];

const fail = (message) => {
  process.stderr.write(`pack.mjs: ${message}\n`);
  process.exit(2);
};
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

if (process.platform !== 'linux' || process.arch !== 'x64') fail(`the device is linux-x64; this is ${process.platform}-${process.arch}`);
for (const pkg of ['nn', 'dit', 'flow', 'dinov3', 'autoencoder']) {
  if (!existsSync(join(root, 'packages', pkg, 'dist'))) fail(`packages/${pkg}/dist is missing: run npm run build first`);
}
const require = createRequire(join(root, 'package.json'));
const webgpuDir = dirname(require.resolve('webgpu/package.json'));
const dawn = join(webgpuDir, 'dist/linux-x64/dawn.node');
if (!existsSync(dawn)) fail(`${dawn} is missing (npm ci installs the package webgpu)`);
const vulkan = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' })
  .split('\n')
  .map((l) => /libvulkan\.so\.1 \(libc6,x86-64\) => (\S+)/.exec(l)?.[1])
  .find(Boolean);
if (!vulkan) fail('no libvulkan.so.1 here (apt-get install libvulkan1)');

const stage = mkdtempSync(join(tmpdir(), 'svg-device-'));
try {
  mkdirSync(join(stage, 'bench/node_modules/webgpu/dist/linux-x64'), { recursive: true });
  mkdirSync(join(stage, 'lib'));
  const { build } = await import(require.resolve('esbuild'));
  await build({
    entryPoints: [join(bench, 'run.mjs')],
    outfile: join(stage, 'bench/run.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    // Packages loaded by a computed name stay outside: webgpu travels beside the bundle; @svg/blas and
    // tfjs-node are CPU extras the GPU run does not use.
    external: ['webgpu', '@svg/blas', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
    banner: { js: "import { createRequire as __svgCreateRequire } from 'node:module'; const require = __svgCreateRequire(import.meta.url);" },
  });
  for (const script of TORCH_SCRIPTS) copyFileSync(join(bench, script), join(stage, 'bench', script));
  copyFileSync(join(here, 'probe.mjs'), join(stage, 'bench/probe.mjs'));
  for (const f of ['package.json', 'index.js']) copyFileSync(join(webgpuDir, f), join(stage, 'bench/node_modules/webgpu', f));
  copyFileSync(dawn, join(stage, 'bench/node_modules/webgpu/dist/linux-x64/dawn.node'));
  copyFileSync(vulkan, join(stage, 'lib/libvulkan.so.1'));
  cpSync(process.execPath, join(stage, 'node'), { dereference: true });
  writeFileSync(join(stage, 'VERSION'), `${JSON.stringify({ node: process.version, packed: new Date().toISOString(), commit: gitHead() })}\n`);

  mkdirSync(outDir, { recursive: true });
  const temp = `${packFile}.${process.pid}.tmp`;
  execFileSync('tar', ['-cJf', temp, '-C', stage, ...readdirSync(stage)], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
  const size = statSync(temp).size;
  if (size > LIMIT_BYTES) {
    rmSync(temp);
    fail(`the pack is ${mib(size)}, over ${mib(LIMIT_BYTES)} (the device's working tree may not pass 64 MiB)`);
  }
  renameSync(temp, packFile);
  const staged = (d) => readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? staged(join(d, e.name)) : statSync(join(d, e.name)).size), 0);
  console.log(`pack.mjs: ${packFile}: ${mib(size)} (${mib(staged(stage))} unpacked); run it on the device with bash tools/device/run.sh`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

function gitHead() {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}
