import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom, loadStateDict, stateDict } from '@svg/nn';
import { type RawTensor, findStateDict, readTorchCheckpoint, toFloat32 } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, useBackend } from '../../../tools/testing/backends';
import { fixturesDir, loadSafetensorsFixture } from '../../../tools/testing/fixtures';
import { Lpips, LpipsWithDiscriminator, NLayerDiscriminator, adaptiveWeight, adoptWeight, convWeightGradient, hingeDLoss, vanillaDLoss } from './index';
import { type Img, batchStats, conv2d, lpips as lpipsRef, map } from './reference.test-util';

/**
 * The training losses against float64 references written from the spec (reference.test-util.ts): there is no
 * forward fixture (the VGG16 ImageNet weights are not available offline), so LPIPS runs with random VGG16 weights
 * and the real LPIPS heads. Gradients are checked against tfjs autograd of the separate terms. cpu only: these are
 * small and the cpu backend has every gradient kernel (wasm lacks Conv2DBackpropFilter).
 */

const rng = new SeededRandom(20251015);
const VGG_CONVS: [number, number, number][] = [
  [0, 3, 64], [2, 64, 64], [5, 64, 128], [7, 128, 128], [10, 128, 256], [12, 256, 256], [14, 256, 256],
  [17, 256, 512], [19, 512, 512], [21, 512, 512], [24, 512, 512], [26, 512, 512], [28, 512, 512],
];

/** torchvision-named random VGG16 features (He-scaled so activations stay O(1)). */
function randomVgg(): Map<string, RawTensor> {
  const sd = new Map<string, RawTensor>();
  for (const [i, cin, cout] of VGG_CONVS) {
    sd.set(`features.${i}.weight`, { dtype: 'F32', shape: [cout, cin, 3, 3], data: rng.normalArray(cout * cin * 9, 0, Math.sqrt(2 / (9 * cin))) });
    sd.set(`features.${i}.bias`, { dtype: 'F32', shape: [cout], data: rng.normalArray(cout, 0, 0.05) });
  }
  sd.set('classifier.0.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) }); // ignored
  return sd;
}

function randomImage(shape: [number, number, number, number], scale = 0.6): { t: tf.Tensor4D; ref: Img } {
  const data = rng.uniformArray(shape.reduce((a, b) => a * b, 1), -scale, scale);
  return { t: tf.tensor4d(data, shape), ref: { data: Float64Array.from(data), shape } };
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / (n || 1));
}

const LIN = loadSafetensorsFixture('lpips_vgg_lin.safetensors');
const VGG = randomVgg();
const vggRef = new Map(VGG_CONVS.map(([i, , cout]) => [i, { w: toFloat32(VGG.get(`features.${i}.weight`)!), b: toFloat32(VGG.get(`features.${i}.bias`)!), cout }]));
const linRef = [0, 1, 2, 3, 4].map((k) => toFloat32(LIN.get(`lin${k}.model.1.weight`)!));

describe('training losses (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it("reads taming's vgg.pth LPIPS heads (legacy torch file) as the fixture has them", () => {
    const bytes = new Uint8Array(readFileSync(join(fixturesDir(), 'checkpoints', 'upstream_lpips_vgg.pth')));
    const heads = findStateDict(readTorchCheckpoint(bytes));
    const spec = JSON.parse(readFileSync(join(fixturesDir(), 'lpips_vgg_lin.json'), 'utf8')).keys;
    for (const [key, info] of Object.entries<{ shape: number[]; sum: number }>(spec)) {
      expect(heads.get(key)!.shape).toEqual(info.shape);
      expect(toFloat32(heads.get(key)!).reduce((a, v) => a + v, 0)).toBeCloseTo(info.sum, 4);
      expect(Array.from(toFloat32(heads.get(key)!))).toEqual(Array.from(toFloat32(LIN.get(key)!)));
    }
  });

  it('LPIPS matches the float64 reference and is 0 for identical images', async () => {
    const model = new Lpips();
    model.loadWeights(VGG, LIN);
    expect(model.namedParameters().filter(([n]) => n.startsWith('net.'))).toHaveLength(26);
    expect(model.trainableParameters()).toHaveLength(0);
    const a = randomImage([2, 16, 16, 3]);
    const b = randomImage([2, 16, 16, 3]);
    const got = await read(model.forward(a.t, b.t));
    const want = lpipsRef(a.ref, b.ref, vggRef, linRef);
    expect(relErr(got, want)).toBeLessThan(1e-4);
    expect(Array.from(await read(model.forward(a.t, a.t)))).toEqual([0, 0]);
    // LPIPS names (e.g. a checkpoint's loss.perceptual_loss.*) load too.
    const again = new Lpips();
    again.loadWeights(await stateDict(model));
    expect(relErr(await read(again.forward(a.t, b.t)), want)).toBeLessThan(1e-6);
    tf.dispose([a.t, b.t]);
    model.dispose();
    again.dispose();
  });

  it('NLayerDiscriminator: upstream keys and size; BatchNorm in train and eval mode matches the reference', async () => {
    const full = new NLayerDiscriminator();
    expect(full.parameterCount()).toBe(2_765_633 + 3 * 0); // buffers (running stats, counters) are not counted
    expect(full.namedParameters().map(([n]) => n).filter((n) => n.startsWith('main.3.'))).toEqual([
      'main.3.weight', 'main.3.bias', 'main.3.running_mean', 'main.3.running_var', 'main.3.num_batches_tracked',
    ]);
    expect(full.namedParameters().some(([n]) => n === 'main.2.bias')).toBe(false);
    expect(full.namedParameters().some(([n]) => n === 'main.11.bias')).toBe(true);

    const ndf = 8;
    const d = new NLayerDiscriminator({ ndf });
    const params = new Map(d.namedParameters().map(([n, p]) => [n, p]));
    // Non-trivial BatchNorm affine and running statistics.
    for (const i of [3, 6, 9]) {
      const c = params.get(`main.${i}.weight`)!.shape[0];
      params.get(`main.${i}.bias`)!.set(tf.tensor(rng.normalArray(c, 0, 0.1)));
      params.get(`main.${i}.running_mean`)!.set(tf.tensor(rng.normalArray(c, 0, 0.1)));
      params.get(`main.${i}.running_var`)!.set(tf.tensor(rng.uniformArray(c, 0.5, 1.5)));
    }
    const sd = await stateDict(d);
    const x = randomImage([2, 32, 32, 3], 1);
    const reference = (train: boolean) => {
      const layers: [number, number, boolean][] = [[0, 2, true], [2, 2, false], [5, 2, false], [8, 1, false], [11, 1, true]];
      let h = x.ref;
      const updates = new Map<number, { mean: number[]; variance: number[]; n: number }>();
      for (const [i, stride, bias] of layers) {
        const w = sd.get(`main.${i}.weight`)!;
        h = conv2d(h, toFloat32(w), bias ? toFloat32(sd.get(`main.${i}.bias`)!) : null, w.shape[0], 4, stride, 1);
        if (i === 11) break;
        if (i > 0) {
          const bn = i + 1;
          const stats = train ? batchStats(h) : { mean: Array.from(toFloat32(sd.get(`main.${bn}.running_mean`)!)), variance: Array.from(toFloat32(sd.get(`main.${bn}.running_var`)!)) };
          updates.set(bn, { ...batchStats(h), n: h.data.length / h.shape[3] });
          const g = toFloat32(sd.get(`main.${bn}.weight`)!);
          const be = toFloat32(sd.get(`main.${bn}.bias`)!);
          h = map(h, (v, c) => ((v - stats.mean[c]) / Math.sqrt(stats.variance[c] + 1e-5)) * g[c] + be[c]);
        }
        h = map(h, (v) => (v > 0 ? v : 0.2 * v));
      }
      return { logits: h, updates };
    };
    const evalOut = d.forward(x.t);
    expect(evalOut.shape).toEqual([2, 2, 2, 1]);
    expect(relErr(await read(evalOut), reference(false).logits.data)).toBeLessThan(1e-5);
    d.train();
    const trainOut = d.forward(x.t);
    const ref = reference(true);
    expect(relErr(await read(trainOut), ref.logits.data)).toBeLessThan(1e-5);
    for (const [bn, u] of ref.updates) {
      const rm = toFloat32(sd.get(`main.${bn}.running_mean`)!);
      const rv = toFloat32(sd.get(`main.${bn}.running_var`)!);
      const wantMean = u.mean.map((m, c) => 0.9 * rm[c] + 0.1 * m);
      const wantVar = u.variance.map((v, c) => 0.9 * rv[c] + 0.1 * v * (u.n / (u.n - 1)));
      expect(relErr(await read(params.get(`main.${bn}.running_mean`)!.value), wantMean)).toBeLessThan(1e-5);
      expect(relErr(await read(params.get(`main.${bn}.running_var`)!.value), wantVar)).toBeLessThan(1e-5);
      expect((await read(params.get(`main.${bn}.num_batches_tracked`)!.value))[0]).toBe(1);
    }
    tf.dispose([x.t, evalOut, trainOut]);
    d.dispose();
    full.dispose();
  });

  it('hinge and vanilla discriminator losses, adopt_weight', async () => {
    const real = tf.tensor([0.5, -2, 1.5, 0.2]);
    const fake = tf.tensor([-0.3, 0.8, -1.5]);
    // hinge: 0.5·(mean(relu(1 − r)) + mean(relu(1 + f)))
    const hingeWant = 0.5 * ((0.5 + 3 + 0 + 0.8) / 4 + (0.7 + 1.8 + 0) / 3);
    expect((await read(hingeDLoss(real, fake)))[0]).toBeCloseTo(hingeWant, 6);
    const sp = (v: number) => Math.log1p(Math.exp(v));
    const vanillaWant = 0.5 * ((sp(-0.5) + sp(2) + sp(-1.5) + sp(-0.2)) / 4 + (sp(-0.3) + sp(0.8) + sp(-1.5)) / 3);
    expect((await read(vanillaDLoss(real, fake)))[0]).toBeCloseTo(vanillaWant, 6);
    expect([adoptWeight(1, 5000, 5001), adoptWeight(1, 5001, 5001), adoptWeight(0.7, 9000, 5001)]).toEqual([0, 1, 0.7]);
    expect((await read(adaptiveWeight(tf.tensor([3, 4]), tf.tensor([0, 0.5]), 0.5)))[0]).toBeCloseTo((5 / (0.5 + 1e-4)) * 0.5, 4);
    expect((await read(adaptiveWeight(tf.tensor([3, 4]), tf.tensor([0, 0]), 1)))[0]).toBe(1e4);
    tf.dispose([real, fake]);
  });

  it('convWeightGradient equals autograd of a 3×3 conv w.r.t. its kernel', async () => {
    const x = randomImage([2, 5, 6, 4]).t;
    const dy = randomImage([2, 5, 6, 3]).t;
    const w = tf.tensor4d(rng.normalArray(3 * 3 * 4 * 3), [3, 3, 4, 3]);
    const auto = tf.grad((k: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, k as tf.Tensor4D, 1, 'same'), dy)))(w);
    expect(relErr(await read(convWeightGradient(x, dy, 3, 1)), await read(auto))).toBeLessThan(1e-5);
    tf.dispose([x, dy, w, auto]);
  });

  describe('LpipsWithDiscriminator', () => {
    // A stand-in decoder head: x̂ = conv_out(F) with F [2, 16, 16, 8] and a 3×3 conv 8 → 3, as decoder.conv_out.
    // 16×16 images keep LPIPS cheap; the discriminator then needs disc_num_layers 2 (16 → 8 → 4 → 3 → 2 logits).
    let loss: LpipsWithDiscriminator;
    let inputs: tf.Tensor4D;
    let features: tf.Tensor4D;
    let kernel: tf.Variable;
    let bias: tf.Tensor1D;
    const convOut = (k: tf.Tensor) => tf.add(tf.conv2d(features, k as tf.Tensor4D, 1, 'same'), bias) as tf.Tensor4D;

    beforeAll(() => {
      loss = new LpipsWithDiscriminator({ disc_start: 5001, disc_weight: 0.5, disc_num_layers: 2 });
      loss.perceptualLoss.loadWeights(VGG, LIN);
      inputs = randomImage([2, 16, 16, 3], 1).t;
      features = randomImage([2, 16, 16, 8], 1).t;
      kernel = tf.variable(tf.tensor4d(rng.normalArray(3 * 3 * 8 * 3, 0, 0.2), [3, 3, 8, 3]));
      bias = tf.tensor1d([0.05, -0.02, 0.01]);
    });

    it('has the upstream loss.* keys (56 with the VGG16 backbone)', () => {
      const names = new LpipsWithDiscriminator({ disc_start: 5001 }).namedParameters().map(([n]) => n);
      expect(names).toHaveLength(56);
      expect(names).toContain('logvar');
      expect(names).toContain('perceptual_loss.lin4.model.1.weight');
      expect(names).toContain('perceptual_loss.net.slice5.28.bias');
      expect(names).toContain('discriminator.main.9.num_batches_tracked');
      expect(loss.trainableParameters().every(([n]) => n.startsWith('discriminator.'))).toBe(true);
    });

    it('reconstruction term: Σ(|x − x̂| + LPIPS)/B, rec_loss and p_loss means', async () => {
      const xhat = convOut(kernel);
      const { nll, recLoss, pLoss } = loss.reconstructionLoss(inputs, xhat);
      const [xs, rs] = [await read(inputs), await read(xhat)];
      const l1 = xs.reduce((a, v, i) => a + Math.abs(v - rs[i]), 0);
      const p = lpipsRef({ data: Float64Array.from(xs), shape: [2, 16, 16, 3] }, { data: Float64Array.from(rs), shape: [2, 16, 16, 3] }, vggRef, linRef);
      const perSample = 16 * 16 * 3;
      expect(relErr(await read(nll), [(l1 + perSample * (p[0] + p[1])) / 2])).toBeLessThan(1e-5);
      expect(relErr(await read(recLoss), [l1 / (2 * perSample) + (p[0] + p[1]) / 2])).toBeLessThan(1e-5);
      expect(relErr(await read(pLoss), [(p[0] + p[1]) / 2])).toBeLessThan(1e-5);
      tf.dispose([xhat, nll, recLoss, pLoss]);
    });

    it('generator loss: value, adaptive weight and gradient before and after disc_start', async () => {
      // Reference pieces by autograd w.r.t. the last layer's kernel.
      const nll = tf.valueAndGrad((k: tf.Tensor) => loss.reconstructionLoss(inputs, convOut(k)).nll)(kernel);
      const g = tf.valueAndGrad((k: tf.Tensor) => tf.neg(tf.mean(loss.discriminator.forward(convOut(k)))) as tf.Scalar)(kernel);
      const dWeight = (await read(adaptiveWeight(nll.grad, g.grad, 0.5)))[0];
      const [nllV, gV] = [(await read(nll.value))[0], (await read(g.value))[0]];
      for (const step of [6000, 100]) {
        const factor = step >= 5001 ? 1 : 0;
        const wantGrad = tf.add(nll.grad, tf.mul(g.grad, dWeight * factor));
        const before = tf.memory().numTensors;
        let logs: Record<string, tf.Scalar> = {};
        const { value, grads } = tf.variableGrads(() => {
          const r = loss.generatorLoss({ inputs, reconstructions: convOut(kernel), lastLayerInput: features, step });
          logs = r.logs;
          return r.loss;
        }, [kernel]);
        expect(tf.memory().numTensors).toBe(before + 2 + Object.keys(logs).length);
        expect(relErr(await read(logs.d_weight), [dWeight])).toBeLessThan(1e-4);
        expect(relErr(await read(value), [nllV + dWeight * factor * gV])).toBeLessThan(1e-5);
        expect(relErr(await read(logs.total_loss), [nllV + dWeight * factor * gV])).toBeLessThan(1e-5);
        expect(relErr(await read(logs.nll_loss), [nllV])).toBeLessThan(1e-6);
        expect(relErr(await read(logs.g_loss), [gV])).toBeLessThan(1e-6);
        expect((await read(logs.disc_factor))[0]).toBe(factor);
        expect(relErr(await read(grads[kernel.name]), await read(wantGrad))).toBeLessThan(1e-4);
        tf.dispose([wantGrad, value, grads[kernel.name], ...Object.values(logs)]);
      }
      tf.dispose([nll.value, nll.grad, g.value, g.grad]);
    });

    it('without the last layer input d_weight is 0 (the upstream evaluation fallback)', async () => {
      const xhat = convOut(kernel);
      const { loss: l, logs } = loss.generatorLoss({ inputs, reconstructions: xhat, step: 9000 });
      expect((await read(logs.d_weight))[0]).toBe(0);
      expect((await read(l))[0]).toBeCloseTo((await read(logs.nll_loss))[0], 3);
      tf.dispose([xhat, l, ...Object.values(logs)]);
    });

    it('discriminator loss: hinge on separate real/fake passes, zero before disc_start, trains D only', async () => {
      const xhat = convOut(kernel);
      loss.train();
      expect(loss.perceptualLoss.training).toBe(false);
      expect(loss.discriminator.training).toBe(true);
      const main3 = loss.discriminator.namedParameters().find(([n]) => n === 'main.3.num_batches_tracked')![1];
      const counted = (await read(main3.value))[0];
      const dVars = loss.discriminator.trainableParameters().map(([, p]) => p.variable);
      const { value, grads } = tf.variableGrads(() => {
        const r = loss.discriminatorLoss({ inputs, reconstructions: xhat, step: 6000 });
        tf.dispose(Object.values(r.logs));
        return r.loss;
      }, dVars);
      expect((await read(main3.value))[0]).toBe(counted + 2);
      // The generator loss runs the discriminator once (upstream: its BatchNorm statistics move then too).
      const gen = loss.generatorLoss({ inputs, reconstructions: xhat, step: 6000 });
      expect((await read(main3.value))[0]).toBe(counted + 3);
      tf.dispose([gen.loss, ...Object.values(gen.logs)]);
      expect(Object.keys(grads)).toHaveLength(dVars.length);
      // The value by hand from the logits of the two passes (eval mode now: use running statistics for both).
      loss.eval();
      const r = loss.discriminatorLoss({ inputs, reconstructions: xhat, step: 6000 });
      const [real, fake] = [await read(loss.discriminator.forward(inputs)), await read(loss.discriminator.forward(xhat))];
      const mean = (a: Float32Array, f: (v: number) => number) => a.reduce((s, v) => s + f(v), 0) / a.length;
      const want = 0.5 * (mean(real, (v) => Math.max(0, 1 - v)) + mean(fake, (v) => Math.max(0, 1 + v)));
      expect(relErr(await read(r.loss), [want])).toBeLessThan(1e-5);
      expect(relErr(await read(r.logs.logits_real), [mean(real, (v) => v)])).toBeLessThan(1e-5);
      const early = loss.discriminatorLoss({ inputs, reconstructions: xhat, step: 5000 });
      expect((await read(early.loss))[0]).toBe(0);
      tf.dispose([xhat, value, ...Object.values(grads), r.loss, ...Object.values(r.logs), early.loss, ...Object.values(early.logs)]);
      expect(() => loadStateDict(loss, new Map(), { strict: true })).toThrow(/missing keys/);
    });
  });
});
