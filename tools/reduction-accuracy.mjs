// node tools/reduction-accuracy.mjs — relative error of long reductions on wasm against float64: stock tfjs-wasm,
// @svg/nn's float64 Sum/Mean (browsers, no addon) and @svg/blas (issue 19). Needs a build (npm run build).
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { registerAccurateReductions, seededNormal, LayerNorm, GroupNorm } from '@svg/nn';
import { registerBlasKernels, unregisterBlasKernels } from '@svg/blas';
import { globalNorm } from '@svg/train';
await tf.setBackend('wasm'); await tf.ready();
const f64 = (a) => Float64Array.from(a);
const relErr = (got, want) => { let d = 0, s = 0; for (let i = 0; i < want.length; i++) { d += (got[i] - want[i]) ** 2; s += want[i] ** 2; } return Math.sqrt(d / s); };
const cases = {
  'flow-loss mean, 4×256×392 per sample': async () => {
    const r = tf.add(tf.mul(seededNormal([4, 256, 392], 1), 0.7), 0.2); const sq = f64(await tf.square(r).data());
    const want = [0, 1, 2, 3].map((b) => sq.subarray(b * 100352, (b + 1) * 100352).reduce((a, v) => a + v, 0) / 100352);
    const got = await tf.mean(tf.square(r), [1, 2]).data(); r.dispose(); return relErr(got, want);
  },
  'gradient global norm, 68 tensors, 4.2M values': async () => {
    const gs = Array.from({ length: 68 }, (_, i) => tf.mul(seededNormal([256, 240 + i], i), 1e-3));
    let s = 0; for (const g of gs) for (const v of await g.data()) s += v * v;
    const got = await globalNorm(gs).data(); tf.dispose(gs); return relErr(got, [Math.sqrt(s)]);
  },
  'image mean (L1 / GAN loss), 8×256×256×3': async () => {
    const x = tf.add(tf.abs(seededNormal([8, 256, 256, 3], 5)), 0.5); const xs = await x.data();
    let s = 0; for (const v of xs) s += v; const got = await tf.mean(x).data(); x.dispose(); return relErr(got, [s / xs.length]);
  },
  'LayerNorm (composite), 4096×1152, offset 3': async () => {
    const x = tf.add(seededNormal([4096, 1152], 7), 3); const xs = f64(await x.data());
    const want = new Float64Array(xs.length);
    for (let r = 0; r < 4096; r++) { const row = xs.subarray(r * 1152, (r + 1) * 1152); const m = row.reduce((a, v) => a + v, 0) / 1152; const v = row.reduce((a, u) => a + (u - m) ** 2, 0) / 1152; row.forEach((u, c) => (want[r * 1152 + c] = (u - m) / Math.sqrt(v + 1e-6))); }
    const ln = new LayerNorm(1152, { eps: 1e-6, affine: false }); const got = await ln.forward(x).data(); x.dispose(); return relErr(got, want);
  },
  'GroupNorm (composite), 2×64×64×128, 32 groups, offset 3': async () => {
    const x = tf.add(seededNormal([2, 64, 64, 128], 8), 3); const xs = f64(await x.data()); const want = new Float64Array(xs.length);
    for (let b = 0; b < 2; b++) for (let g = 0; g < 32; g++) { let s = 0, n = 0; const idx = []; for (let p = 0; p < 4096; p++) for (let c = g * 4; c < g * 4 + 4; c++) { const i = (b * 4096 + p) * 128 + c; idx.push(i); s += xs[i]; n++; } const m = s / n; let v = 0; for (const i of idx) v += (xs[i] - m) ** 2; v /= n; for (const i of idx) want[i] = (xs[i] - m) / Math.sqrt(v + 1e-6); }
    const gn = new GroupNorm(32, 128, { eps: 1e-6 }); const got = await gn.forward(x).data(); x.dispose(); return relErr(got, want);
  },
};
const rows = {};
for (const [name, f] of Object.entries(cases)) rows[name] = { stock: await f() };
registerAccurateReductions('wasm');
for (const [name, f] of Object.entries(cases)) rows[name].float64JS = await f();
registerBlasKernels('wasm');
for (const [name, f] of Object.entries(cases)) rows[name].blas = await f();
console.log('relative L2 error against float64 (wasm backend)');
for (const [name, r] of Object.entries(rows)) console.log(name.padEnd(58), Object.entries(r).map(([k, v]) => `${k} ${v.toExponential(2)}`).join('  '));
