import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '@svg/data-imagenet';
import { writeSafetensors } from '@svg/weights';
import { fixturesDir } from '../../../tools/testing/fixtures';

// These tests run the built command (dist/main.js) as a user would, on real files.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const main = join(root, 'apps/cli/dist/main.js');
const work = mkdtempSync(join(tmpdir(), 'svg-cli-'));
const photos = '/usr/lib/python3/dist-packages/skimage/data';
const tiny = { dit: join(work, 'dit.safetensors'), ae: join(work, 'autoencoder.safetensors'), config: join(root, 'configs/tiny/autoencoder.yaml') };

function svg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [main, ...args]);
}

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: work, maxBuffer: 1 << 24, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  expect(existsSync(main), 'build the CLI first (npx tsup)').toBe(true);
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [join(root, 'tools/make-tiny-checkpoints.mjs'), work], (e) => (e ? reject(e) : resolve())),
  );
});

describe('svg', () => {
  it('lists its commands, and each has help with examples', async () => {
    const help = await svg('--help');
    expect(help.code).toBe(0);
    for (const c of ['convert', 'inspect', 'sample', 'encode', 'decode', 'reconstruct', 'stats', 'data', 'cache', 'train', 'eval']) expect(help.stdout).toContain(c);
    const sampleHelp = await svg('sample', '--help');
    expect(sampleHelp.stdout).toMatch(/examples:\n {2}svg sample/);
    expect((await svg()).code).toBe(2);
    const version = await svg('--version');
    expect([version.code, version.stdout.trim()]).toEqual([0, `svg ${JSON.parse(readFileSync(join(root, 'apps/cli/package.json'), 'utf8')).version}`]);
    const unknown = await svg('smaple');
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, 'svg: unknown command "smaple" (commands: convert, inspect, sample, encode, decode, reconstruct, stats, data, cache, train, eval)']);
  });

  it('converts an official DiT checkpoint ({"ema": ...}) to safetensors and recognises it', async () => {
    const out = join(work, 'dit-ema.safetensors');
    const conv = await svg('convert', join(fixturesDir(), 'checkpoints/dit_ema_step.pt'), out);
    expect(conv.code).toBe(0);
    const info = await svg('inspect', out);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('y_embedder.embedding_table.weight');
    expect(info.stdout).toMatch(/model: SVG DiT \(hidden 32, depth 1, 2 heads, 10 classes, 16×16 tokens of 8\)/);
    expect((await svg('inspect', tiny.ae)).stdout).toMatch(/model: SVG autoencoder \(decoder \+ DINOv3 encoder \+ residual ViT\)/);
  });

  it('samples end to end: a PNG grid with metadata and one PNG per image', async () => {
    const r = await svg('sample', '--dit', tiny.dit, '--autoencoder', tiny.ae, '--config', tiny.config, '--class-names', 'golden retriever,tabby cat',
      '--steps', '3', '--seed', '5', '--out', 'grid.png', '--out-dir', 'images', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/backend: wasm/);
    const grid = readFileSync(join(work, 'grid.png'));
    const meta = await sharp(grid).metadata();
    expect([meta.width, meta.height]).toEqual([2 * 258 + 2, 258 + 2]);
    const text = readPngText(grid);
    expect(text).toMatchObject({ classes: '207,281', seed: '5', steps: '3', cfg: '4', sampler: 'euler', shift: '0.15' });
    const files = readdirSync(join(work, 'images')).sort();
    expect(files).toEqual(['000_class207_seed5.png', '001_class281_seed6.png']);
    const one = readFileSync(join(work, 'images', files[1]));
    expect(readPngText(one)).toMatchObject({ class: '281 tabby', seed: '6' });
    const { data } = await sharp(one).raw().toBuffer({ resolveWithObject: true });
    expect(new Set(data).size).toBeGreaterThan(32);
  });

  it('encodes, decodes and reconstructs real photographs', async () => {
    const images = [join(photos, 'astronaut.png'), join(photos, 'coffee.png')];
    const ae = ['--autoencoder', tiny.ae, '--config', tiny.config];
    const enc = await svg('encode', ...images, ...ae, '--out', 'lat.safetensors');
    expect(enc.code, enc.stderr).toBe(0);
    expect(enc.stdout).toContain('latents [2, 16, 16, 392]');
    const dec = await svg('decode', 'lat.safetensors', ...ae, '--out', 'decoded');
    expect(dec.code, dec.stderr).toBe(0);
    expect(readdirSync(join(work, 'decoded')).sort()).toEqual(['000.png', '001.png']);
    const rec = await svg('reconstruct', ...images, ...ae, '--out', 'recon');
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stdout).toMatch(/astronaut.png: PSNR \d+\.\d\d dB/);
  });

  it('computes latent statistics over an image folder in the official layout', async () => {
    const folder = join(work, 'folder');
    for (const [cls, photo] of [['a', 'astronaut.png'], ['a', 'coffee.png'], ['b', 'chelsea.png']]) {
      mkdirSync(join(folder, cls), { recursive: true });
      copyFileSync(join(photos, photo), join(folder, cls, photo));
    }
    const r = await svg('stats', folder, '--autoencoder', tiny.ae, '--config', tiny.config, '--batch', '2', '--out', 'stats.safetensors');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('392 channels over 3 images');
    expect((await svg('inspect', 'stats.safetensors')).stdout).toMatch(/dinov3_sp_std +F32 +\[1, 1, 392\][\s\S]*model: SVG latent statistics/);
  });

  it('inspect shows crafted tensor names with their control characters escaped, not interpreted', async () => {
    const evil = 'w\u001b[2J\u001b[31mred\u202etxt.exe\u0007';
    writeFileSync(join(work, 'evil.safetensors'), writeSafetensors({ [evil]: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } }));
    const r = await svg('inspect', 'evil.safetensors');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('w\\u{1b}[2J\\u{1b}[31mred\\u{202e}txt.exe\\u{7}');
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e]/);
  });

  it('svg stats skips unreadable images, names them, and gives the statistics of the readable ones', async () => {
    const folder = join(work, 'folder-bad');
    for (const [cls, photo] of [['a', 'astronaut.png'], ['a', 'coffee.png'], ['b', 'chelsea.png']]) {
      mkdirSync(join(folder, cls), { recursive: true });
      copyFileSync(join(photos, photo), join(folder, cls, photo));
    }
    writeFileSync(join(folder, 'a', 'notes.jpg'), 'not an image');
    writeFileSync(join(folder, 'b', 'cut.png'), readFileSync(join(photos, 'camera.png')).subarray(0, 200));
    const r = await svg('stats', folder, '--autoencoder', tiny.ae, '--config', tiny.config, '--batch', '2', '--out', 'stats-bad.safetensors');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('392 channels over 3 images (2 unreadable skipped)');
    expect(r.stderr).toMatch(/skipped .*notes\.jpg: not a readable image/);
    expect(r.stderr).toMatch(/skipped .*cut\.png: not a readable image/);
    const tensors = (f: string) => readFileSync(join(work, f)).subarray(readFileSync(join(work, f)).readUInt32LE(0) + 8);
    expect(Buffer.compare(tensors('stats-bad.safetensors'), tensors('stats.safetensors'))).toBe(0); // the same 3 images
    // A photo folder without class folders (and with __pycache__ and tests sub-folders): every image counts.
    const flat = await svg('stats', photos, '--autoencoder', tiny.ae, '--config', tiny.config, '--limit', '3', '--out', 'flat.safetensors');
    expect(flat.code, flat.stderr).toBe(0);
    expect(flat.stdout).toContain('392 channels over 3 images');
    mkdirSync(join(work, 'only-bad', 'x'), { recursive: true });
    writeFileSync(join(work, 'only-bad', 'x', 'a.png'), 'nope');
    const none = await svg('stats', join(work, 'only-bad'), '--autoencoder', tiny.ae, '--config', tiny.config, '--out', 'none.safetensors');
    expect([none.code, none.stderr.trim().split('\n').at(-1)]).toEqual([2, expect.stringMatching(/^svg: .*only-bad: none of the 1 images could be read$/)]);
  });

  it('trains a tiny DiT on Fashion-MNIST and resumes it', async () => {
    const config = join(root, 'configs/tiny-dit-fashion-mnist.yaml');
    const first = await svg('train', 'dit', '--config', config, '--max-steps', '12', '--run-dir', 'run');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/max-steps at step 12; last checkpoint: .*0000012/);
    const again = await svg('train', 'dit', '--config', config, '--max-steps', '20', '--run-dir', 'run');
    expect([again.code, again.stderr.trim().split('\n').at(-1)]).toEqual([2, expect.stringMatching(/already holds checkpoints: resume it/)]);
    const resumed = await svg('train', 'dit', '--config', config, '--max-steps', '20', '--run-dir', 'run', '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/at step 20; last checkpoint: .*0000020/);
    expect(readdirSync(join(work, 'run'))).toEqual(expect.arrayContaining(['metrics.jsonl', 'loss.png', 'checkpoints']));
  });

  it('trains data-parallel under mpirun: one run folder, one report; a torchrun launch without MPI is refused', async () => {
    const config = join(root, 'configs/tiny-dit-fashion-mnist.yaml');
    const r = await run('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, main, 'train', 'dit', '--config', config, '--max-steps', '4', '--run-dir', 'run-dp']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^max-steps at step 4; last checkpoint: .*run-dp\/checkpoints\/0000004$/); // rank 0 alone reports
    expect(r.stderr.match(/data parallel: 2 ranks \(mpirun, Open MPI v[\d.]+\), 4 samples each/g)).toHaveLength(1);
    expect(readdirSync(join(work, 'run-dp', 'checkpoints'))).toEqual(['0000004']);
    const torchrun = await run(process.execPath, [main, 'train', 'dit', '--config', config, '--run-dir', 'run-torchrun'], { WORLD_SIZE: '2', RANK: '0', LOCAL_RANK: '0' });
    expect([torchrun.code, torchrun.stderr.trim()]).toEqual([2, expect.stringMatching(/^svg: WORLD_SIZE=2 \(torchrun\) but MPI sees 1 process: torchrun starts processes but no MPI job: launch with mpirun -np 2/)]);
  });

  it('writes Fashion-MNIST as image folders, caches their latents (with mirrored copies) and reconstructs a folder', async () => {
    const data = await svg('data', 'fashion-mnist', '--out', 'fmnist', '--limit', '24');
    expect(data.code, data.stderr).toBe(0);
    expect(readdirSync(join(work, 'fmnist/train')).sort()).toEqual(['0-t-shirt-top', '1-trouser', '2-pullover', '3-dress', '4-coat', '5-sandal', '6-shirt', '7-sneaker', '8-bag', '9-ankle-boot']);
    const meta = await sharp(join(work, 'fmnist/train/9-ankle-boot/00000.png')).metadata();
    expect([meta.width, meta.height]).toEqual([32, 32]);
    expect((await svg('data', 'fashion-mnist', '--out', 'fmnist', '--limit', '24')).stdout).toMatch(/already there, kept/);
    const cache = await svg('cache', join(work, 'fmnist/train'), '--autoencoder', tiny.ae, '--config', tiny.config, '--out', 'latents', '--batch', '6', '--backend', 'wasm');
    expect(cache.code, cache.stderr).toBe(0);
    expect(cache.stdout).toMatch(/24 latents \[16, 16, 392\] \(\+ mirrored\), 10 classes, 0 skipped/);
    const index = JSON.parse(readFileSync(join(work, 'latents/index.json'), 'utf8'));
    expect(index.classes.map((c: { name: string }) => c.name)).toContain('9-ankle-boot');
    const recon = await svg('reconstruct', join(work, 'fmnist/test'), '--autoencoder', tiny.ae, '--config', tiny.config, '--limit', '3', '--backend', 'wasm');
    expect(recon.code, recon.stderr).toBe(0);
    expect(recon.stdout).toMatch(/mean PSNR -?\d+\.\d+ dB over 3 images/);
  });

  it('samples the shipped Fashion-MNIST SVG by default: one image per class, named in the PNG text', async () => {
    const r = await svg('sample', '--out', 'fmnist/grid.png', '--out-dir', 'fmnist-images', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    const text = readPngText(readFileSync(join(work, 'fmnist/grid.png')));
    expect(text).toMatchObject({ model: 'SVG Fashion-MNIST (svg-ts demo)', classes: '0,1,2,3,4,5,6,7,8,9', steps: '25', cfg: '4' });
    expect(text['class names']).toBe('T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot');
    expect(readdirSync(join(work, 'fmnist-images'))).toHaveLength(10);
    expect(readPngText(readFileSync(join(work, 'fmnist-images/009_class9_seed9.png'))).class).toBe('9 Ankle boot');
    const some = await svg('sample', '--class-names', 'sneaker,bag', '--steps', '5', '--out', 'two.png', '--backend', 'wasm');
    expect(some.stdout).toMatch(/2 images.*Sneaker, Bag/);
    const wrong = await svg('sample', '--class-names', 'golden retriever');
    expect([wrong.code, wrong.stderr.trim()]).toEqual([2, expect.stringMatching(/class "golden retriever" is not one of the model's classes: T-shirt\/top, Trouser/)]);
  });

  it("svg eval: the independent classifier recognises at least 8 of the 10 classes in the shipped model's samples", async () => {
    const r = await svg('eval', '--num', '30', '--seed', '1000', '--json', 'eval/report.json', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/conditional accuracy +\d+\.\d %/);
    const report = JSON.parse(readFileSync(join(work, 'eval/report.json'), 'utf8'));
    const recognised = Object.entries(report.perClassAccuracy as Record<string, number>).filter(([, a]) => a >= 2 / 3).map(([name]) => name);
    console.log(`svg eval, 30 samples (seeds 1000..1029): ${(100 * report.conditionalAccuracy).toFixed(1)} % assigned to their class; recognised (≥ 2 of 3): ${recognised.join(', ')}`);
    // A class is recognised when the judge assigns at least 2 of its 3 samples to it (a chance guesser: 3 % per class).
    expect(recognised.length).toBeGreaterThanOrEqual(8);
    expect(report.classifierTestAccuracy).toBeGreaterThan(0.9);
    expect(report.frechetSamplesTest).toBeGreaterThan(report.frechetTrainTest); // samples are further from the test images than real images are
  });

  it('writes an ADM sample batch resumably (a killed run continues to the same file) and evaluates npz batches', async () => {
    const args = ['sample', '--num', '12', '--batch', '2', '--steps', '10', '--backend', 'wasm'];
    expect((await svg(...args, '--npz', 'whole.npz')).code).toBe(0);
    // Kill a second run once it has recorded 2 or more images, then run it again.
    const child = spawn(process.execPath, [main, ...args, '--npz', 'killed.npz'], { cwd: work, stdio: 'ignore' });
    const progress = join(work, 'killed.npz.partial.json');
    for (let i = 0; i < 600 && !(existsSync(progress) && JSON.parse(readFileSync(progress, 'utf8')).rowsDone.arr_0 >= 2); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const changed = await svg('sample', '--num', '12', '--batch', '2', '--steps', '3', '--backend', 'wasm', '--npz', 'killed.npz');
    expect([changed.code, changed.stderr]).toEqual([2, expect.stringMatching(/killed.npz.partial: was started with other arrays or settings/)]);
    const again = await svg(...args, '--npz', 'killed.npz');
    expect(again.code, again.stderr).toBe(0);
    const resumedFrom = Number(/continuing after (\d+) of 12 images/.exec(again.stdout)?.[1]);
    expect(resumedFrom).toBeGreaterThanOrEqual(2);
    expect(resumedFrom).toBeLessThan(12);
    expect(readFileSync(join(work, 'killed.npz')).equals(readFileSync(join(work, 'whole.npz')))).toBe(true);
    const done = await svg(...args, '--npz', 'whole.npz');
    expect([done.code, done.stderr.trim().split('\n').at(-1)]).toEqual([2, 'svg: whole.npz already exists: delete it to sample again, or name another file']);

    expect((await svg('data', 'fashion-mnist', '--npz', '--limit', '300', '--out', 'refs')).code).toBe(0);
    const judge = join(root, 'packages/model-fashion-mnist/classifier.safetensors');
    const self = await svg('eval', '--ref', 'refs/test.npz', '--samples', 'refs/test.npz', '--features', judge, '--json', 'self.json', '--backend', 'wasm');
    expect(self.code, self.stderr).toBe(0);
    const same = JSON.parse(readFileSync(join(work, 'self.json'), 'utf8'));
    expect(Math.abs(same.fid)).toBeLessThan(1e-6); // a batch against itself
    expect([same.precision, same.recall, same.sfid]).toEqual([1, 1, null]);
    const r = await svg('eval', '--ref', 'refs/test.npz', '--samples', 'whole.npz', '--features', judge, '--json', 'gen.json', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/FID +\d+\.\d{3}\n {2}sFID +— .*\n {2}Inception Score +\d/);
    const gen = JSON.parse(readFileSync(join(work, 'gen.json'), 'utf8'));
    expect((await svg('eval', '--ref', 'refs/test.npz', '--samples', 'refs/train.npz', '--features', judge, '--json', 'real.json', '--backend', 'wasm')).code).toBe(0);
    const real = JSON.parse(readFileSync(join(work, 'real.json'), 'utf8'));
    expect(gen.fid).toBeGreaterThan(real.fid); // 12 samples are further from the test images than 300 real training images
    expect(readdirSync(join(work, 'refs')).filter((n) => n.endsWith('.activations.safetensors'))).toHaveLength(2); // features cached beside the inputs
    expect((await svg('eval', '--ref', 'refs/test.npz', '--samples', 'whole.npz', '--features', judge, '--backend', 'wasm')).stdout).toMatch(/\(features from the cache\)/);

    // The FID Inception path on the fixture's random-weight Inception and numpy-written batches (read-only folder:
    // the features cannot be cached there, the numbers come all the same).
    const npz = join(fixturesDir(), 'eval/npz');
    const inception = ['--inception', join(fixturesDir(), 'eval/fid_inception_v3.weights.safetensors'), '--backend', 'wasm'];
    const adm = await svg('eval', '--ref', join(npz, 'ref_batch.npz'), '--samples', join(npz, 'sample_batch_compressed.npz'), ...inception, '--ref-stats', 'images', '--json', 'adm.json');
    expect(adm.code, adm.stderr).toBe(0);
    expect(adm.stdout).toMatch(/features {2}fid-inception-v3-[0-9a-f]{8} \(2048-d\)/);
    const table = JSON.parse(readFileSync(join(work, 'adm.json'), 'utf8'));
    expect([table.referenceCount, table.sampleCount]).toEqual([6, 5]);
    for (const k of ['fid', 'sfid', 'inceptionScore']) expect(Number.isFinite(table[k]) && table[k] > 0, k).toBe(true);
    // The fixture's stored mu/sigma are 64-d stand-ins: using them (the default) is refused, naming the dimensions.
    const stored = await svg('eval', '--ref', join(npz, 'ref_batch.npz'), '--samples', join(npz, 'sample_batch_compressed.npz'), ...inception);
    expect([stored.code, stored.stderr.trim().split('\n').at(-1)]).toEqual([2, 'svg: reference statistics are 64-dimensional, the features 2048-dimensional']);

    writeFileSync(join(work, 'junk.npz'), 'not an archive');
    const bad: [string[], RegExp][] = [
      [['eval', '--ref', 'refs/test.npz', '--samples', 'junk.npz', '--features', judge], /junk.npz: .*zip/],
      [['eval', '--ref', 'refs/test.npz', '--samples', 'missing.npz', '--features', judge], /sample batch not found: missing.npz/],
      [['eval', '--ref', join(fixturesDir(), 'eval/npz/stats_compressed.npz'), '--samples', 'whole.npz', '--features', judge], /no image array arr_0 \(arrays: /],
      [['eval', '--ref', 'refs/test.npz', '--samples', 'whole.npz'], /FID needs pytorch-fid's Inception weights: --inception/],
      [['eval', '--ref', 'refs/test.npz', '--samples', 'whole.npz', '--inception', judge], /missing .*Conv2d_1a_3x3/],
      [['eval', '--ref', 'refs/test.npz'], /--ref and --samples go together/],
      [['sample', '--num', '4', '--npz', 'x.png'], /--npz must name a .npz file/],
    ];
    for (const [a, message] of bad) {
      const b = await svg(...a, '--backend', 'wasm');
      expect(b.code, `${a.join(' ')}: ${b.stderr}`).toBe(2);
      expect(b.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:') && !l.startsWith('loaded ')), a.join(' ')).toEqual([expect.stringMatching(message)]);
    }
  });

  it('answers bad input with one line and exit code 2', async () => {
    const tinyAe = ['--autoencoder', tiny.ae, '--config', tiny.config];
    const cases: [string[], RegExp, string?][] = [
      [['convert', 'missing.pth', 'out.safetensors'], /^svg: checkpoint not found: missing.pth$/],
      [['inspect', '/etc/hostname'], /^svg: \/etc\/hostname: not a safetensors, torch zip or torch legacy/],
      [['sample', '--classes', '-1'], /^svg: --classes needs a value \(write a value that starts with "-" as --classes=<value>\)/],
      [['sample', '--classes=-1'], /--classes takes indices; "-1" is not one/],
      [['sample', '--dit', tiny.dit, '--autoencoder', tiny.ae, '--class-names', 'golden retriver'], /did you mean: golden retriever \(207/],
      [['sample', '--dit', tiny.dit, '--autoencoder', tiny.ae, '--classes', '1000'], /class index 1000 out of range/],
      [['sample', '--autoencoder', tiny.ae], /^svg: --autoencoder\/--config go with --dit/],
      [['sample', '--model', work], /not a model folder \(no svg-model.json\)/],
      [['sample', '--dit', tiny.dit, '--autoencoder', tiny.ae, '--sampler', 'magic'], /--sampler must be one of euler, heun/],
      [['sample', '--dit', tiny.ae, '--autoencoder', tiny.ae, '--config', tiny.config, '--classes', '1'], /cannot load the DiT/],
      [['encode', '/etc/hostname', '--autoencoder', tiny.ae, '--config', tiny.config], /not a readable image/],
      [['sample', '--steps', 'many'], /^svg: --steps must be a number, got "many"$/],
      [['sample', '--steps', '0'], /^svg: --steps must be an integer in \[1, 10000\], got "0"$/],
      [['sample', '--bogus'], /Unknown option '--bogus'/],
      [['stats', join(work, 'no-such-folder'), '--autoencoder', tiny.ae], /does not exist/],
      [['train', 'autoencoder', '--config', join(root, 'configs/tiny-dit-fashion-mnist.yaml')], /is a DiT config, not an autoencoder config/],
      [['train', 'gan', '--config', 'x.yaml'], /expected "svg train dit", "svg train autoencoder" or "svg train classifier"/],
      // Parts that do not belong together fail before sampling (issue #18), and leave no file behind.
      [['sample', '--dit', join(fixturesDir(), 'checkpoints/dit_ema_step.pt'), ...tinyAe, '--classes', '1', '--out', 'bad-channels.png'],
        /the DiT makes 8-channel latents but the decoder takes 392 channels/, 'bad-channels.png'],
      [['sample', '--dit', tiny.dit, ...tinyAe, '--stats', join(root, 'packages/model-fashion-mnist/stats.safetensors'), '--classes', '1', '--out', 'bad-stats.png'],
        /the latent statistics have 40 channels but the DiT makes 392-channel latents/, 'bad-stats.png'],
      [['sample', '--dit', tiny.dit, ...tinyAe, '--cfg-mode', 'late', '--sampler', 'dopri5', '--out', 'bad-mode.png'], /^svg: --cfg-mode late follows the step index, which the adaptive dopri5 sampler has not/, 'bad-mode.png'],
      [['sample', '--dit', tiny.dit, '--autoencoder', tiny.ae, '--classes', '1', '--out', 'bad-config.png'],
        /cannot load the autoencoder: this looks like an SVG autoencoder with a different config: pass --config <its yaml> \(against the default ViT-S\/16\+ config: 121 shape mismatches \(decoder\.conv_in\.weight: expected \[512,392,3,3\], got \[64,392,3,3\];[^;]*;[^;]*; \.\.\.\)/, 'bad-config.png'],
      [['sample', '--dit', tiny.dit, ...tinyAe, '--out', 'grid.jpg'], /^svg: --out must name a \.png file \(the grid is written as PNG\), got "grid\.jpg"$/, 'grid.jpg'],
      [['sample', '--dit', tiny.dit, ...tinyAe, '--out-dir', 'one.png'], /^svg: --out-dir names a folder/, 'one.png'],
      [['encode', join(photos, 'coffee.png'), ...tinyAe, '--out', 'latents.png'], /^svg: --out must name a \.safetensors file/, 'latents.png'],
      [['convert', join(fixturesDir(), 'checkpoints/dit_ema_step.pt'), 'bogus.safetensors', '--key', 'bogus'], /dit_ema_step\.pt: no entry "bogus" for --key \(the file holds: ema, step\)$/, 'bogus.safetensors'],
      [['convert', join(fixturesDir(), 'checkpoints/dit_plain.pt'), 'plain.safetensors', '--key', 'ema'], /the file is a plain state dict \(40 tensors, no entries to choose from\): leave out --key$/, 'plain.safetensors'],
      [['sample', '--dit', tiny.dit, ...tinyAe, '--cfg=', '--out', 'cfg-empty.png'], /^svg: --cfg must be a number, got ""$/, 'cfg-empty.png'],
      [['sample', '--dit', tiny.dit, ...tinyAe, '--cfg', '1e308', '--out', 'cfg-huge.png'], /^svg: --cfg must be a number in \[0, 100\], got "1e308"$/, 'cfg-huge.png'],
      [['sample', '--shift', 'Infinity', '--out', 'shift.png'], /^svg: --shift must be a number in \(0, 1000\], got "Infinity"$/, 'shift.png'],
      [['eval', '--cfg', '', '--num', '10'], /^svg: --cfg must be a number, got ""$/],
    ];
    for (const [args, message, output] of cases) {
      const r = await svg(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:') && !l.startsWith('loaded '));
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      if (output) expect(existsSync(join(work, output)), `${args.join(' ')} left ${output}`).toBe(false);
    }
    // A DiT whose head count is not in its weights: inspect says what it knows and what it cannot infer, no stack.
    const noHeads = await svg('inspect', join(fixturesDir(), 'dit_noqknorm.weights.safetensors'));
    expect([noHeads.code, noHeads.stderr]).toEqual([0, '']);
    expect(noHeads.stdout).toMatch(/model: SVG DiT \(hidden 64, depth 2, heads unknown, 1000 classes, 16×16 tokens of 392\); the head count cannot be inferred/);
  });
});
