/**
 * Plain float64 re-implementations of the loss networks, written from the spec (§2.2–2.3), for the loss tests.
 * Images are NHWC `Float64Array`s with an explicit shape; weights use PyTorch layouts.
 */
export interface Img {
  data: Float64Array;
  shape: [number, number, number, number];
}

export function conv2d(x: Img, w: ArrayLike<number>, bias: ArrayLike<number> | null, cout: number, k: number, stride: number, pad: number): Img {
  const [b, h, wd, cin] = x.shape;
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const out = new Float64Array(b * ho * wo * cout);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let o = 0; o < cout; o++) {
          let s = bias ? bias[o] : 0;
          for (let u = 0; u < k; u++) {
            const y = i * stride + u - pad;
            if (y < 0 || y >= h) continue;
            for (let v = 0; v < k; v++) {
              const xx = j * stride + v - pad;
              if (xx < 0 || xx >= wd) continue;
              const base = ((n * h + y) * wd + xx) * cin;
              for (let c = 0; c < cin; c++) s += x.data[base + c] * w[((o * cin + c) * k + u) * k + v];
            }
          }
          out[((n * ho + i) * wo + j) * cout + o] = s;
        }
  return { data: out, shape: [b, ho, wo, cout] };
}

export function map(x: Img, f: (v: number, c: number) => number): Img {
  const c = x.shape[3];
  return { data: x.data.map((v, i) => f(v, i % c)), shape: x.shape };
}

export function maxPool2(x: Img): Img {
  const [b, h, w, c] = x.shape;
  const ho = Math.floor(h / 2);
  const wo = Math.floor(w / 2);
  const out = new Float64Array(b * ho * wo * c);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let ch = 0; ch < c; ch++) {
          let m = -Infinity;
          for (let u = 0; u < 2; u++) for (let v = 0; v < 2; v++) m = Math.max(m, x.data[((n * h + 2 * i + u) * w + 2 * j + v) * c + ch]);
          out[((n * ho + i) * wo + j) * c + ch] = m;
        }
  return { data: out, shape: [b, ho, wo, c] };
}

/** LPIPS per sample. `vgg`: torchvision `features.{i}` weights (PyTorch layout); `lin[k]`: the 1×1 head of slice k. */
export function lpips(x0: Img, x1: Img, vgg: Map<number, { w: ArrayLike<number>; b: ArrayLike<number>; cout: number }>, lin: ArrayLike<number>[]): number[] {
  const shift = [-0.03, -0.088, -0.188];
  const scale = [0.458, 0.448, 0.45];
  const slices = [[0, 2], [5, 7], [10, 12, 14], [17, 19, 21], [24, 26, 28]];
  const features = (img: Img): Img[] => {
    let h = map(img, (v, c) => (v - shift[c]) / scale[c]);
    return slices.map((idx, k) => {
      if (k > 0) h = maxPool2(h);
      for (const i of idx) {
        const l = vgg.get(i)!;
        h = map(conv2d(h, l.w, l.b, l.cout, 3, 1, 1), (v) => Math.max(v, 0));
      }
      return h;
    });
  };
  const f0 = features(x0);
  const f1 = features(x1);
  const b = x0.shape[0];
  const result = new Array(b).fill(0);
  f0.forEach((a, k) => {
    const [, h, w, c] = a.shape;
    const bb = f1[k];
    for (let n = 0; n < b; n++) {
      let total = 0;
      for (let p = 0; p < h * w; p++) {
        const base = (n * h * w + p) * c;
        let na = 0;
        let nb = 0;
        for (let ch = 0; ch < c; ch++) {
          na += a.data[base + ch] ** 2;
          nb += bb.data[base + ch] ** 2;
        }
        na = Math.sqrt(na) + 1e-10;
        nb = Math.sqrt(nb) + 1e-10;
        let s = 0;
        for (let ch = 0; ch < c; ch++) s += lin[k][ch] * (a.data[base + ch] / na - bb.data[base + ch] / nb) ** 2;
        total += s;
      }
      result[n] += total / (h * w);
    }
  });
  return result;
}

/** Per-channel batch mean and biased variance of an NHWC image. */
export function batchStats(x: Img): { mean: number[]; variance: number[] } {
  const c = x.shape[3];
  const n = x.data.length / c;
  const mean = new Array(c).fill(0);
  const variance = new Array(c).fill(0);
  x.data.forEach((v, i) => (mean[i % c] += v / n));
  x.data.forEach((v, i) => (variance[i % c] += (v - mean[i % c]) ** 2 / n));
  return { mean, variance };
}
