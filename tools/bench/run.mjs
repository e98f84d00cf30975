#!/usr/bin/env node
/**
 * The one benchmark command (issue #10): our models on each backend and the same models in PyTorch, on this machine.
 *
 *   node tools/bench/run.mjs                 # = npm run bench: all models on wasm, the small ones on cpu too, PyTorch
 *   node tools/bench/run.mjs --quick         # smoke test: DiT-S only (+ a 2-step DiT-S sample), 1 run
 *   node tools/bench/run.mjs --models dit-S,decoder --backends wasm,cpu --runs 5 --no-torch --json out.json
 *
 * Needs the built packages (npm run build) and, for the PyTorch column, /usr/bin/python3 with torch and numpy.
 *
 * Cases (random weights, seed 0; each timed as `out = f(); await out.data()`, read-back included, 1 warm-up, then
 * the median of --runs):
 *   dit-S, dit-XL  one Euler step of @svg/flow `sample` with classifier-free guidance at batch 2: a forward of the
 *                  2 noisy latents with their labels and a forward of the same 2 with the null label (two passes of
 *                  batch 2, as the sampler and the reference do), then v_u + 4·(v_c − v_u) and the update.
 *                  FLOPs = forwardFlops(model, 4). PyTorch: dit_torch.py --cfg 4, the same two passes.
 *   dinov3         DINOv3 ViT-S/16+ forwardFeatures of one 256×256 image (256 patches + cls + 4 storage tokens).
 *                  PyTorch: dinov3_torch.py.
 *   decoder        the SVG decoder (LDM decoder, official ddconfig) of one latent [1, 16, 16, 392] → [1, 256, 256, 3].
 *                  PyTorch: autoencoder_torch.py --decode-only.
 *   inception      pytorch-fid's FID Inception v3 (@svg/eval loadFidInception, the fixture weights
 *                  shared/fixtures/eval/fid_inception_v3.weights.safetensors) on the fixture's 2 photographs 299×299
 *                  → pool3 [2, 2048]. FLOPs = inceptionFlops(2). PyTorch: inception_torch.py --batch 2.
 *   xl-image       one whole image: a 25-step Euler sample of DiT-XL with CFG at batch 1 (2 forwards of 1 latent per step),
 *                  then the decoder → [1, 256, 256, 3]. Warm-up: the same with 1 step. Runs: 1 (webgpu 3; --image-runs).
 *                  PyTorch: image_torch.py. (--image-dit S swaps in DiT-S, for a quick check of the case itself.)
 *   dit-XL-sample  memory: a 4-step Euler sample of DiT-XL with CFG at batch 2. Peak RSS while sampling (VmHWM, reset
 *   (dit-S-sample) through /proc/self/clear_refs after the model is built) ÷ (weights + activations), where weights
 *                  + activations = tfjs' peak live tensor bytes during one guided step (tf.profile peakBytes); and
 *                  tf.memory().numTensors after every step, which must stay flat. Target: ratio ≤ 1.3.
 *
 * Each (model, backend) case runs in its own child process (`run.mjs --case NAME --backend B`) so peak RSS and the
 * wasm heap are per case and a failure (or the --timeout) stops only that case.
 *
 * FLOPs come from shapes (tools/bench/flops.mjs, 2 per multiply-add of matmuls and convs). sgemm = numpy float32
 * 2048² matmul on this machine, measured at the start and the end of the run (the higher counts): "% of sgemm" =
 * our GFLOP/s ÷ that. ours/PyTorch is the time ratio (> 1: we are slower). Medians: the middle value (mean of the two middle ones for an even count).
 *
 * Flags: --models dit-S,dit-XL,dinov3,decoder,inception,xl-image,dit-XL-sample (also dit-S-sample)
 *        --backends wasm,cpu,webgpu   --runs N (default: 5; DiT-XL and cpu 3)   --steps N (sample cases, default 4)
 *        --threads N (PyTorch, default: cores)   --no-torch   --quick   --json FILE   --timeout SECONDS (per case, 1800)
 *        --python PATH (default /usr/bin/python3)   --torch-device cpu|cuda   --torch-dtypes fp32[,bf16]
 * With --torch-device cuda (the GPU run, tools/device/) "sgemm" is PyTorch's float32 8192² matmul on that GPU (TF32 off)
 * and the PyTorch rows run there: strict fp32, and bf16 under autocast; ours/PyTorch is against fp32.
 * Default backends: wasm for every model; cpu for dit-S, dinov3, decoder and inception (DiT-XL on cpu is skipped unless named
 * explicitly with --models/--backends together with --cpu-xl); webgpu only when asked (here it is SwiftShader).
 *
 * Output (stdout, stable): a header, the table
 *   | model | backend | ms (median) | runs | GFLOP | GFLOP/s | % of sgemm | PyTorch ms | ours/PyTorch |
 * with one `pytorch` row per model, the memory table, the FLOP cross-check, and one JSON line with everything.
 * Progress goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const has = (name) => args.includes(`--${name}`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const CFG = 4;
const BATCH = 2;
const TOKENS = 256;
const IMAGE_STEPS = 25;
const DIT_SIZES = { 'dit-S': 'S', 'dit-XL': 'XL', 'dit-S-sample': 'S', 'dit-XL-sample': 'XL' };
const ALL_MODELS = ['dit-S', 'dit-XL', 'dinov3', 'decoder', 'inception', 'xl-image', 'dit-S-sample', 'dit-XL-sample'];
const imageDit = opt('image-dit', 'XL');

if (has('case')) {
  await childMain();
} else {
  await parentMain();
}

// ---------------------------------------------------------------------------------------------------------------
// Child: one (model, backend) case; prints `RESULT <json>` as its last stdout line.

async function childMain() {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend, setInitSeed } = await import('@svg/nn');
  const { kernelFlops } = await import('./flops.mjs');
  const name = opt('case');
  const backend = opt('backend', 'wasm');
  const runs = Number(opt('runs', '3'));
  if (!ALL_MODELS.includes(name)) throw new Error(`unknown case '${name}' (known: ${ALL_MODELS.join(', ')})`);
  if (backend === 'webgpu' && !process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  const info = await initBackend(backend);
  setInitSeed(0);
  const tBuild = performance.now();
  const result = { case: name, backend, detail: info.detail };
  const mib = (bytes) => bytes / 2 ** 20;
  const wasmHeapBytes = () => tf.backend()?.wasm?.HEAPU8?.buffer?.byteLength ?? null;

  const outputs = (r) => (r instanceof tf.Tensor ? [r] : Object.values(r).filter((t) => t instanceof tf.Tensor));
  const readAll = async (r) => {
    for (const t of outputs(r)) await t.data();
    tf.dispose(outputs(r));
  };

  if (name.endsWith('-sample')) {
    Object.assign(result, await sampleCase(tf, name, Number(opt('steps', '4'))));
  } else {
    const { run, warmup = run, params, cleanup } = await buildTimed(tf, name);
    result.build_s = (performance.now() - tBuild) / 1000;
    result.params = params;
    const once = async (f = run) => {
      const start = performance.now();
      await readAll(await f());
      return performance.now() - start;
    };
    result.warmup_ms = await once(warmup);
    result.tensors_after_warmup = tf.memory().numTensors; // models that build their weights lazily have them now
    const ms = [];
    const tensors = [];
    for (let i = 0; i < runs; i++) {
      ms.push(await once());
      tensors.push(tf.memory().numTensors);
    }
    result.ms = ms;
    result.median_ms = median(ms);
    result.tensors_after_each_run = tensors;
    if (!has('no-profile')) {
      const prof = await tf.profile(async () => readAll(await run()));
      const k = kernelFlops(prof.kernels);
      result.kernel_flops = k.flops;
      result.kernel_uncounted = k.uncounted;
    }
    cleanup();
  }
  result.max_rss_mib = process.resourceUsage().maxRSS / 1024;
  result.wasm_heap_mib = wasmHeapBytes() === null ? null : mib(wasmHeapBytes());
  if (tf.findBackend('wasm')) tf.removeBackend('wasm');
  console.log(`RESULT ${JSON.stringify(result)}`);

  async function buildTimed(tf, name) {
    if (name === 'dit-S' || name === 'dit-XL') {
      const { createDiT } = await import('@svg/dit');
      const { sample } = await import('@svg/flow');
      const dit = createDiT(DIT_SIZES[name], { seed: 0 }).eval();
      const z = tf.randomNormal([BATCH, TOKENS, dit.config.inChannels], 0, 1, 'float32', 1);
      const y = tf.tensor1d([207, 360], 'int32');
      const yNull = tf.fill([BATCH], dit.config.numClasses, 'int32');
      const fn = (x, t, labels) => dit.forward(x, t, labels);
      return {
        run: () => sample(fn, z, { steps: 1, cfg: CFG, mode: 'euler', y, yNull }),
        params: dit.parameterCount(),
        cleanup: () => (tf.dispose([z, y, yNull]), dit.dispose()),
      };
    }
    if (name === 'xl-image') {
      const { createDiT } = await import('@svg/dit');
      const { sample } = await import('@svg/flow');
      const { SVG_AUTOENCODER_CONFIG, createSvgAutoencoder } = await import('@svg/autoencoder');
      const dit = createDiT(imageDit, { seed: 0 }).eval();
      const decoder = createSvgAutoencoder(SVG_AUTOENCODER_CONFIG, { decoderOnly: true });
      const channels = dit.config.inChannels;
      const noise = tf.randomNormal([1, TOKENS, channels], 0, 1, 'float32', 1);
      const y = tf.tensor1d([207], 'int32');
      const yNull = tf.fill([1], dit.config.numClasses, 'int32');
      const fn = (x, t, labels) => dit.forward(x, t, labels);
      const image = async (steps) => {
        const z = await sample(fn, noise, { steps, cfg: CFG, mode: 'euler', y, yNull });
        const pixels = tf.tidy(() => decoder.decode(tf.reshape(z, [1, 16, 16, channels])));
        z.dispose();
        return pixels;
      };
      return {
        run: () => image(IMAGE_STEPS),
        warmup: () => image(1),
        params: dit.parameterCount() + decoder.parameterCount(),
        cleanup: () => (tf.dispose([noise, y, yNull]), dit.dispose(), decoder.dispose()),
      };
    }
    if (name === 'dinov3') {
      const { createDinov3 } = await import('@svg/dinov3');
      const model = createDinov3('vits16plus');
      const x = tf.randomNormal([1, 256, 256, 3], 0, 1, 'float32', 1);
      return { run: () => model.forwardFeatures(x), params: model.parameterCount(), cleanup: () => (x.dispose(), model.dispose()) };
    }
    if (name === 'decoder') {
      const { SVG_AUTOENCODER_CONFIG, createSvgAutoencoder } = await import('@svg/autoencoder');
      const model = createSvgAutoencoder(SVG_AUTOENCODER_CONFIG, { decoderOnly: true });
      const z = tf.randomNormal([1, 16, 16, SVG_AUTOENCODER_CONFIG.ddconfig.z_channels], 0, 1, 'float32', 1);
      return { run: () => model.decode(z), params: model.parameterCount(), cleanup: () => (z.dispose(), model.dispose()) };
    }
    if (name === 'inception') {
      const { buildInception } = await import('./inception.mjs');
      const { model, x, params } = await buildInception(tf, BATCH);
      return { run: () => model.pool3(x), params, cleanup: () => (x.dispose(), model.dispose()) };
    }
    throw new Error(`no timed case '${name}'`);
  }

  async function sampleCase(tf, name, steps) {
    const { createDiT } = await import('@svg/dit');
    const { sample } = await import('@svg/flow');
    const dit = createDiT(DIT_SIZES[name], { seed: 0 }).eval();
    const weightsBytes = tf.memory().numBytes;
    const z = tf.randomNormal([BATCH, TOKENS, dit.config.inChannels], 0, 1, 'float32', 1);
    const y = tf.tensor1d([207, 360], 'int32');
    const yNull = tf.fill([BATCH], dit.config.numClasses, 'int32');
    const fn = (x, t, labels) => dit.forward(x, t, labels);
    const buildS = (performance.now() - tBuild) / 1000;
    const rssNow = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    let peakReset = true;
    try {
      writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
    } catch {
      peakReset = false; // then VmHWM is the whole process' peak, model building included
    }
    const rssBefore = rssNow();
    const tensorsBefore = tf.memory().numTensors;
    const stepMs = [];
    const tensorsPerStep = [];
    const rssPerStep = [];
    let last = performance.now();
    const out = await sample(fn, z, {
      steps,
      cfg: CFG,
      mode: 'euler',
      y,
      yNull,
      onStep: () => {
        const now = performance.now();
        stepMs.push(now - last);
        tensorsPerStep.push(tf.memory().numTensors);
        rssPerStep.push(mib(rssNow()));
        last = now;
      },
    });
    await out.data();
    out.dispose();
    const peakRss = hwm();
    const tensorsAfter = tf.memory().numTensors;
    // tfjs' own count of live tensor bytes at the worst moment of one guided step (weights, inputs, activations)
    const bytesBefore = tf.memory().numBytes;
    const prof = await tf.profile(async () => {
      const o = await sample(fn, z, { steps: 1, cfg: CFG, mode: 'euler', y, yNull });
      await o.data();
      o.dispose();
    });
    const { kernelFlops: kf } = await import('./flops.mjs');
    const k = kf(prof.kernels);
    const tensorPeak = prof.peakBytes;
    tf.dispose([z, y, yNull]);
    dit.dispose();
    const flat = tensorsPerStep.every((n) => n === tensorsPerStep[0]) && tensorsAfter === tensorsBefore;
    return {
      build_s: buildS,
      params: dit.parameterCount(),
      steps,
      step_ms: stepMs,
      median_step_ms: median(stepMs),
      weights_mib: mib(weightsBytes),
      activations_mib: mib(tensorPeak - weightsBytes),
      inputs_mib: mib(bytesBefore - weightsBytes),
      tensor_peak_mib: mib(tensorPeak),
      peak_rss_mib: mib(peakRss),
      peak_rss_reset: peakReset,
      rss_before_mib: mib(rssBefore),
      rss_after_each_step_mib: rssPerStep,
      rss_ratio: peakRss / tensorPeak,
      tensors_before: tensorsBefore,
      tensors_after_each_step: tensorsPerStep,
      tensors_after: tensorsAfter,
      tensors_flat: flat,
      kernel_flops: k.flops,
      kernel_uncounted: k.uncounted,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: header, cases in child processes, PyTorch, table.

async function parentMain() {
  const { ditFlops, dinov3Flops, decoderFlops, inceptionFlops } = await import('./flops.mjs');
  const { SVG_AUTOENCODER_CONFIG } = await import('@svg/autoencoder');
  const quick = has('quick');
  const models = (opt('models', quick ? 'dit-S,dit-S-sample' : 'dit-S,dit-XL,dinov3,decoder,inception,xl-image,dit-XL-sample')).split(',');
  for (const m of models) if (!ALL_MODELS.includes(m)) throw new Error(`unknown model '${m}' (known: ${ALL_MODELS.join(', ')})`);
  const backendsGiven = opt('backends', null);
  const backends = (backendsGiven ?? (quick ? 'wasm' : 'wasm,cpu')).split(',');
  const withTorch = !has('no-torch');
  const python = opt('python', '/usr/bin/python3');
  const torchDevice = opt('torch-device', 'cpu');
  const torchDtypes = opt('torch-dtypes', 'fp32').split(',');
  for (const d of torchDtypes) if (d !== 'fp32' && d !== 'bf16') throw new Error(`--torch-dtypes: unknown '${d}' (known: fp32, bf16)`);
  const torchRow = (dtype) => (dtype === 'fp32' ? 'pytorch' : `pytorch-${dtype}`);
  const threads = Number(opt('threads', String(cpus().length)));
  const steps = Number(opt('steps', quick ? '2' : '4'));
  const timeoutS = Number(opt('timeout', '1800'));
  const runsFor = (m, b) =>
    m === 'xl-image' ? Number(opt('image-runs', b === 'webgpu' || b === 'cuda' ? '3' : '1')) : Number(opt('runs', quick ? '1' : m === 'dit-XL' || b === 'cpu' ? '3' : '5'));
  const log = (s) => process.stderr.write(`${s}\n`);

  const flopsOf = {
    'dit-S': ditFlops('S', 2 * BATCH, TOKENS),
    'dit-XL': ditFlops('XL', 2 * BATCH, TOKENS),
    dinov3: dinov3Flops('vits16plus', 1, 256),
    decoder: decoderFlops(SVG_AUTOENCODER_CONFIG.ddconfig, 1, 16),
    inception: inceptionFlops(BATCH),
    'xl-image': IMAGE_STEPS * ditFlops(imageDit, 2, TOKENS) + decoderFlops(SVG_AUTOENCODER_CONFIG.ddconfig, 1, 16),
    'dit-S-sample': ditFlops('S', 2 * BATCH, TOKENS),
    'dit-XL-sample': ditFlops('XL', 2 * BATCH, TOKENS),
  };

  // Which (model, backend) pairs run: cpu DiT-XL takes minutes per forward, so it needs --cpu-xl; the memory case
  // is about the CPU backends' RSS, so it runs on wasm (and cpu only with --cpu-xl for XL).
  const skipped = [];
  const cases = [];
  for (const m of models) {
    for (const b of backends) {
      if (m.endsWith('-sample') && b === 'cpu' && !backendsGiven) continue; // one memory case by default: wasm
      if (b === 'cpu' && (m.startsWith('dit-XL') || m === 'xl-image') && !has('cpu-xl')) {
        skipped.push(`${m} on cpu (minutes per forward; add --cpu-xl)`);
        continue;
      }
      if (m.endsWith('-sample') && b === 'webgpu') {
        skipped.push(`${m} on webgpu (RSS says nothing about GPU memory)`);
        continue;
      }
      cases.push({ model: m, backend: b });
    }
  }

  const loadStart = loadavg();
  const started = new Date();
  log(`run.mjs: ${cases.length} cases (${cases.map((c) => `${c.model}/${c.backend}`).join(', ')})${withTorch ? ' + PyTorch' : ''}`);
  log(`measuring sgemm (${torchDevice === 'cuda' ? 'PyTorch CUDA float32 8192²' : 'numpy float32 2048²'}) ...`);
  const sgemm = measureSgemm();
  log(`  ${sgemm.gflops_2048.toFixed(1)} GFLOP/s`);

  const results = [];
  const torch = {};
  for (const m of models) {
    for (const c of cases.filter((c) => c.model === m)) {
      log(`${c.model} on ${c.backend} ...`);
      const t0 = performance.now();
      const r = runChild(c.model, c.backend, runsFor(c.model, c.backend));
      r.wall_s = (performance.now() - t0) / 1000;
      results.push(r);
      log(r.error ? `  FAILED: ${r.error}` : r.median_ms !== undefined ? `  ${r.median_ms.toFixed(1)} ms median of [${r.ms.map((v) => v.toFixed(0))}] (${r.wall_s.toFixed(0)} s)` : `  peak RSS ${r.peak_rss_mib.toFixed(0)} MiB, ${r.median_step_ms.toFixed(0)} ms/step (${r.wall_s.toFixed(0)} s)`);
    }
    if (withTorch && !m.endsWith('-sample')) {
      torch[m] = {};
      for (const dtype of torchDtypes) {
        log(`${m} in PyTorch (${torchDevice === 'cuda' ? 'cuda' : `${threads} threads`}, ${dtype}) ...`);
        const t = runTorch(m, runsFor(m, torchDevice === 'cuda' ? 'cuda' : 'wasm'), dtype);
        torch[m][dtype] = t;
        log(t.error ? `  FAILED: ${t.error}` : `  ${t.median_ms.toFixed(1)} ms median of [${t.ms.map((v) => v.toFixed(0))}]`);
      }
    }
  }
  log('measuring sgemm again ...');
  const sgemmEnd = measureSgemm();
  const loadEnd = loadavg();
  // The machine's rate is the better of the two readings: a lower one only means something else was running.
  const sgemmRate = Math.max(sgemm.gflops_2048, sgemmEnd.gflops_2048);

  // --- output ---
  const lines = [];
  const out = (s = '') => lines.push(s);
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const tfjsVersion = (await import('@tensorflow/tfjs-core')).version_core;
  const details = [...new Map(results.filter((r) => r.detail).map((r) => [r.backend, r.detail]))].map(([b, d]) => `${b} = ${d}`);
  const header = {
    date: started.toISOString(),
    cpu: cpuModel,
    cores: cpus().length,
    load_start: loadStart,
    load_end: loadEnd,
    node: process.version,
    tfjs: tfjsVersion,
    torch: sgemm.torch,
    numpy: sgemm.numpy,
    torch_threads: threads,
    torch_device: torchDevice,
    torch_dtypes: torchDtypes,
    gpu: sgemm.gpu ?? null,
    sgemm_gflops: sgemmRate,
    sgemm_gflops_start: sgemm.gflops_2048,
    sgemm_gflops_end: sgemmEnd.gflops_2048,
    sgemm_1024_gflops: sgemm.gflops_1024,
    backends: Object.fromEntries(details.map((d) => d.split(' = '))),
  };
  const f2 = (xs) => xs.map((v) => v.toFixed(2)).join(' ');
  out('# svg-ts benchmark: node tools/bench/run.mjs');
  out(`date: ${header.date}`);
  out(`cpu: ${cpuModel}, ${header.cores} cores; load average ${f2(loadStart)} at start, ${f2(loadEnd)} at end`);
  const torchWhere = torchDevice === 'cuda' ? `cuda on ${sgemm.gpu}; fp32 with TF32 off${torchDtypes.includes('bf16') ? ', bf16 = autocast' : ''}` : `${threads} threads`;
  out(`node ${process.version}, tfjs ${tfjsVersion}; PyTorch ${sgemm.torch} (${torchWhere}), numpy ${sgemm.numpy}`);
  const sgemmWhat = torchDevice === 'cuda' ? 'PyTorch CUDA float32 8192² matmul, TF32 off' : 'numpy float32 2048² matmul';
  out(`sgemm: ${sgemmRate.toFixed(1)} GFLOP/s (${sgemmWhat}, median; the higher of ${sgemm.gflops_2048.toFixed(1)} at start and ${sgemmEnd.gflops_2048.toFixed(1)} at end; ${torchDevice === 'cuda' ? '2048²' : '1024²'}: ${sgemm.gflops_1024.toFixed(1)})`);
  out(`backends: ${details.join('; ') || 'none ran'}`);
  out(`timed: end to end with read-back, median of runs after 1 warm-up, random weights. dit-S/dit-XL = one Euler step with CFG at`);
  out(`  batch 2 (forward of 2 labelled + forward of 2 null-label latents; FLOPs of a batch-4 forward); dinov3 = ViT-S/16+ on 1`);
  out(`  image 256² (261 tokens); decoder = 1 latent 16²×392 → 256²×3; inception = FID Inception v3, 2 images 299² → pool3;`);
  out(`  xl-image = one image: ${IMAGE_STEPS}-step Euler sample of DiT-${imageDit} with CFG at batch 1, then the decoder (warm-up: 1 step).`);
  out(`  GFLOP from shapes (matmuls + convs). % of sgemm = GFLOP/s ÷ sgemm GFLOP/s. ours/PyTorch = time ratio (> 1: ours slower).`);
  out();
  const cols = [
    ['model', 13, 'l'],
    ['backend', 12, 'l'],
    ['ms (median)', 11, 'r'],
    ['runs', 4, 'r'],
    ['GFLOP', 7, 'r'],
    ['GFLOP/s', 7, 'r'],
    ['% of sgemm', 10, 'r'],
    ['PyTorch ms', 10, 'r'],
    ['ours/PyTorch', 12, 'r'],
  ];
  const row = (cells) => `| ${cells.map((c, i) => (cols[i][2] === 'l' ? String(c).padEnd(cols[i][1]) : String(c).padStart(cols[i][1]))).join(' | ')} |`;
  out(row(cols.map((c) => c[0])));
  out(`|${cols.map((c) => (c[2] === 'l' ? ` ${'-'.repeat(c[1])} ` : ` ${'-'.repeat(c[1] - 1)}: `)).join('|')}|`);
  const tableRows = [];
  const notes = [];
  for (const m of models.filter((m) => !m.endsWith('-sample'))) {
    const gflop = flopsOf[m] / 1e9;
    const reference = torch[m]?.[torchDtypes[0]];
    const tms = reference && !reference.error ? reference.median_ms : null;
    for (const r of results.filter((r) => r.case === m)) {
      if (r.error) {
        out(row([m, r.backend, 'failed', '-', gflop.toFixed(1), '-', '-', tms === null ? '-' : tms.toFixed(1), '-']));
        notes.push(`${m} on ${r.backend} failed: ${r.error}`);
        tableRows.push({ model: m, backend: r.backend, error: r.error, gflop });
        continue;
      }
      const rate = gflop / (r.median_ms / 1000);
      const ratio = tms === null ? null : r.median_ms / tms;
      out(row([m, r.backend, r.median_ms.toFixed(1), r.ms.length, gflop.toFixed(1), rate.toFixed(1), `${((100 * rate) / sgemmRate).toFixed(1)}%`, tms === null ? '-' : tms.toFixed(1), ratio === null ? '-' : ratio.toFixed(2)]));
      tableRows.push({ model: m, backend: r.backend, median_ms: r.median_ms, ms: r.ms, runs: r.ms.length, gflop, gflop_per_s: rate, sgemm_fraction: rate / sgemmRate, torch_ms: tms, ours_over_torch: ratio });
    }
    for (const [dtype, t] of Object.entries(torch[m] ?? {})) {
      const backend = torchRow(dtype);
      if (t.error) {
        out(row([m, backend, 'failed', '-', gflop.toFixed(1), '-', '-', '-', '-']));
        notes.push(`${m} in PyTorch ${dtype} failed: ${t.error}`);
        continue;
      }
      const rate = gflop / (t.median_ms / 1000);
      const ratio = tms === null ? null : t.median_ms / tms;
      out(row([m, backend, t.median_ms.toFixed(1), t.ms.length, gflop.toFixed(1), rate.toFixed(1), `${((100 * rate) / sgemmRate).toFixed(1)}%`, tms === null ? '-' : tms.toFixed(1), ratio === null ? '-' : ratio.toFixed(2)]));
      tableRows.push({ model: m, backend, median_ms: t.median_ms, ms: t.ms, runs: t.ms.length, gflop, gflop_per_s: rate, sgemm_fraction: rate / sgemmRate, torch_ms: tms, ours_over_torch: ratio });
    }
  }

  const memRows = results.filter((r) => r.case.endsWith('-sample'));
  if (memRows.length) {
    out();
    out(`memory: ${steps}-step Euler sample with CFG at batch 2; peak RSS while sampling ÷ (weights + activations = tfjs' peak live tensor bytes in one guided step); target (for DiT-XL) ≤ 1.3, tensor count flat`);
    out('| case          | backend | ms/step | weights MiB | activations MiB | peak RSS MiB | ratio | ≤ 1.3 | tensors: before → after each step → after | flat |');
    out('| ------------- | ------- | ------: | ----------: | --------------: | -----------: | ----: | ----- | ----------------------------------------- | ---- |');
    for (const r of memRows) {
      if (r.error) {
        out(`| ${r.case.padEnd(13)} | ${r.backend.padEnd(7)} | failed: ${r.error.slice(0, 80)} |`);
        notes.push(`${r.case} on ${r.backend} failed: ${r.error}`);
        continue;
      }
      out(`| ${r.case.padEnd(13)} | ${r.backend.padEnd(7)} | ${r.median_step_ms.toFixed(0).padStart(7)} | ${r.weights_mib.toFixed(0).padStart(11)} | ${r.activations_mib.toFixed(0).padStart(15)} | ${r.peak_rss_mib.toFixed(0).padStart(12)} | ${r.rss_ratio.toFixed(2).padStart(5)} | ${(r.rss_ratio <= 1.3 ? 'yes' : 'NO').padEnd(5)} | ${`${r.tensors_before} → ${r.tensors_after_each_step.join(',')} → ${r.tensors_after}`.padEnd(41)} | ${(r.tensors_flat ? 'yes' : 'NO').padEnd(4)} |`);
      if (!r.peak_rss_reset) notes.push(`${r.case}: /proc/self/clear_refs not writable: peak RSS includes building the model`);
    }
  }

  const counted = results.filter((r) => !r.error && r.tensors_after_each_run);
  if (counted.length) {
    out();
    out('tensors (tf.memory().numTensors): after the warm-up → after each timed run; flat = no run leaves tensors behind');
    for (const r of counted) {
      const after = r.tensors_after_each_run;
      out(`  ${`${r.case}/${r.backend}`.padEnd(20)} ${r.tensors_after_warmup} → ${after.join(', ')}  ${after.every((n) => n === r.tensors_after_warmup) ? 'flat' : 'GROWS'}`);
    }
  }

  // FLOP cross-check: flops.mjs (shapes) vs the executed matmul/conv kernels (tf.profile) vs 2·params·tokens.
  const checks = [];
  for (const r of results.filter((r) => !r.error && r.kernel_flops !== undefined)) {
    const counted = flopsOf[r.case];
    const naiveTokens = r.case.startsWith('dit-') ? 2 * BATCH * TOKENS : r.case === 'dinov3' ? 261 : null;
    checks.push({
      case: r.case,
      backend: r.backend,
      gflop_shapes: counted / 1e9,
      gflop_kernels: r.kernel_flops / 1e9,
      diff: r.kernel_flops / counted - 1,
      gflop_2_params_tokens: naiveTokens === null ? null : (2 * r.params * naiveTokens) / 1e9,
      uncounted_kernels: r.kernel_uncounted,
    });
  }
  const seen = new Set();
  const shown = checks.filter((c) => !seen.has(c.case.replace('-sample', '')) && seen.add(c.case.replace('-sample', '')));
  if (shown.length) {
    out();
    out('FLOP check (GFLOP): flops.mjs from shapes | matmul + conv kernels tf.profile saw run | 2·params·tokens (DiT: tokens of all 4 passes; includes per-sample adaLN/label weights, excludes attention)');
    for (const c of shown) {
      out(`  ${c.case.replace('-sample', '').padEnd(8)} ${c.gflop_shapes.toFixed(2).padStart(9)} | ${c.gflop_kernels.toFixed(2).padStart(9)} (${c.diff >= 0 ? '+' : ''}${(100 * c.diff).toFixed(2)}%) | ${c.gflop_2_params_tokens === null ? '-' : c.gflop_2_params_tokens.toFixed(2)}${c.uncounted_kernels.length ? `  (not counted: ${c.uncounted_kernels.join(', ')})` : ''}`);
    }
  }
  for (const s of skipped) notes.push(`skipped: ${s}`);
  if (notes.length) {
    out();
    for (const n of notes) out(`note: ${n}`);
  }
  const json = { bench: 'tools/bench/run.mjs', format: 1, header, rows: tableRows, memory: memRows, flop_check: checks, cases: results, torch, skipped };
  out(JSON.stringify(json));
  console.log(lines.join('\n'));
  const jsonFile = opt('json', null);
  if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`);

  function runChild(model, backend, runs) {
    const childArgs = [fileURLToPath(import.meta.url), '--case', model, '--backend', backend, '--runs', String(runs), '--steps', String(steps), '--image-dit', imageDit];
    // One profiled forward per model, for the FLOP cross-check: on the first cpu/wasm case (DiT-XL: its sample case)
    const profiled = results.some((r) => r.case === model && r.kernel_flops !== undefined);
    if (model === 'dit-XL' || model === 'xl-image' || backend === 'webgpu' || profiled) childArgs.push('--no-profile');
    const r = spawnSync(process.execPath, childArgs, { encoding: 'utf8', timeout: timeoutS * 1000, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
    if (r.status === 0 && line) return JSON.parse(line.slice(7));
    const why = r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL' ? `killed after ${timeoutS} s (--timeout)` : lastLine(r.stderr) || `exit ${r.status ?? r.signal}`;
    return { case: model, backend, error: why };
  }

  function runTorch(model, runs, dtype) {
    const common = ['--threads', String(threads), '--device', torchDevice, '--dtype', dtype];
    const py = (script, extra) => spawnSync(python, [join(here, script), ...common, ...extra], { encoding: 'utf8', timeout: timeoutS * 1000, killSignal: 'SIGKILL' });
    let r;
    if (model.startsWith('dit-')) r = py('dit_torch.py', ['--model', DIT_SIZES[model], '--batch', String(BATCH), '--tokens', String(TOKENS), '--cfg', String(CFG), '--runs', String(runs)]);
    else if (model === 'xl-image') r = py('image_torch.py', ['--model', imageDit, '--steps', String(IMAGE_STEPS), '--cfg', String(CFG), '--runs', String(runs)]);
    else if (model === 'dinov3') r = py('dinov3_torch.py', ['--size', '256', '--batch', '1', '--iters', String(runs)]);
    else if (model === 'inception') r = py('inception_torch.py', ['--batch', String(BATCH), '--iters', String(runs)]);
    else r = py('autoencoder_torch.py', ['--decode-only', '--batch', '1', '--iters', String(runs)]);
    if (r.status !== 0) return { error: lastLine(r.stderr) || `exit ${r.status ?? r.signal}` };
    const j = JSON.parse(r.stdout.trim().split('\n').pop());
    const ms = j.seconds ? j.seconds.map((s) => 1000 * s) : j.times_ms ?? j.decode_times_ms;
    return { ms, median_ms: median(ms), torch: j.torch, threads: j.threads, device: j.device, dtype: j.dtype };
  }

  function measureSgemm() {
    const script = torchDevice === 'cuda' ? cudaSgemmScript : `
import json, time, numpy as np
rng = np.random.default_rng(0)
def rate(n):
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    times, begin = [], time.perf_counter()
    while len(times) < 25 and (len(times) < 5 or time.perf_counter() - begin < 3):
        t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
    times.sort()
    return 2 * n ** 3 / times[len(times) // 2] / 1e9
r = {"gflops_2048": rate(2048), "gflops_1024": rate(1024), "numpy": np.__version__}
try:
    import torch
    r["torch"] = torch.__version__
except Exception:
    r["torch"] = None
print(json.dumps(r))
`;
    const r = spawnSync(python, ['-c', script], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sgemm measurement failed: ${lastLine(r.stderr)}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  }
}

// The GPU's float32 matmul rate through PyTorch (TF32 off: WebGPU has no TF32), 8192² (and 2048² in gflops_1024's
// place), CUDA-event timed: the ceiling the webgpu rows are read against.
const cudaSgemmScript = `
import json, numpy as np, torch
torch.backends.cuda.matmul.allow_tf32 = False
def rate(n):
    a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
    for _ in range(3): a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(10):
        start.record(); a @ b; end.record(); torch.cuda.synchronize(); times.append(start.elapsed_time(end) / 1000)
    times.sort()
    return 2 * n ** 3 / times[len(times) // 2] / 1e9
print(json.dumps({"gflops_2048": rate(8192), "gflops_1024": rate(2048), "numpy": np.__version__, "torch": torch.__version__,
                  "gpu": torch.cuda.get_device_name()}))
`;

function lastLine(s) {
  return (s ?? '').trim().split('\n').filter(Boolean).pop() ?? '';
}
