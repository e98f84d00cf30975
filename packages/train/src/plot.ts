import { encodePng } from '@svg/data-imagenet';

/** One curve of a {@link plotCurves} chart. */
export interface Series {
  name: string;
  /** `[x, y]` points in increasing x; non-finite points are skipped. */
  points: readonly (readonly [number, number])[];
  /** RGB colour. */
  color: readonly [number, number, number];
}

/** Options of {@link plotCurves}. */
export interface PlotOptions {
  width?: number;
  height?: number;
  /** Axis captions (drawn with a small built-in font: digits, lower-case letters, `.-+_/%:`). */
  xLabel?: string;
  yLabel?: string;
  title?: string;
}

/** An RGB image: `width · height · 3` bytes. */
export interface RgbCanvas {
  width: number;
  height: number;
  pixels: Uint8Array;
}

const BACKGROUND = 255;
const AXIS: [number, number, number] = [60, 60, 60];
const GRID: [number, number, number] = [225, 225, 225];
const TEXT: [number, number, number] = [40, 40, 40];

/**
 * Draws line charts into an RGB buffer (no canvas library): axes, grid lines at "nice" tick values with labels,
 * one polyline per series and a legend. Used for the loss curve written next to the checkpoints.
 */
export function plotCurves(series: readonly Series[], options: PlotOptions = {}): RgbCanvas {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const canvas: RgbCanvas = { width, height, pixels: new Uint8Array(width * height * 3).fill(BACKGROUND) };
  const left = 64;
  const right = width - 16;
  const top = options.title ? 28 : 16;
  const bottom = height - 40;
  const pts = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  let [x0, x1] = range(pts.map((p) => p[0]));
  let [y0, y1] = range(pts.map((p) => p[1]));
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const xt = niceTicks(x0, x1, 6);
  const yt = niceTicks(y0, y1, 5);
  [x0, x1] = [Math.min(x0, xt[0]), Math.max(x1, xt[xt.length - 1])];
  [y0, y1] = [Math.min(y0, yt[0]), Math.max(y1, yt[yt.length - 1])];
  const px = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * (right - left);
  const py = (y: number) => bottom - ((y - y0) / (y1 - y0 || 1)) * (bottom - top);
  for (const t of yt) {
    const y = Math.round(py(t));
    line(canvas, left, y, right, y, GRID);
    const label = formatTick(t);
    text(canvas, label, left - 6 - textWidth(label), y - 3, TEXT);
  }
  for (const t of xt) {
    const x = Math.round(px(t));
    line(canvas, x, top, x, bottom, GRID);
    const label = formatTick(t);
    text(canvas, label, x - Math.floor(textWidth(label) / 2), bottom + 6, TEXT);
  }
  line(canvas, left, top, left, bottom, AXIS);
  line(canvas, left, bottom, right, bottom, AXIS);
  for (const s of series) {
    let prev: [number, number] | null = null;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const p: [number, number] = [Math.round(px(x)), Math.round(py(y))];
      if (prev) line(canvas, prev[0], prev[1], p[0], p[1], s.color);
      else dot(canvas, p[0], p[1], s.color);
      prev = p;
    }
  }
  if (options.xLabel) text(canvas, options.xLabel, Math.round((left + right) / 2 - textWidth(options.xLabel) / 2), height - 14, TEXT);
  if (options.yLabel) text(canvas, options.yLabel, 4, top - 12 < 0 ? 0 : Math.max(0, top - 12), TEXT);
  if (options.title) text(canvas, options.title, left, 8, TEXT);
  let ly = top + 4;
  for (const s of series) {
    const lx = right - 8 - textWidth(s.name) - 16;
    line(canvas, lx, ly + 3, lx + 10, ly + 3, s.color);
    text(canvas, s.name, lx + 14, ly, s.color);
    ly += 10;
  }
  return canvas;
}

/** {@link plotCurves} encoded as PNG bytes, with `text` stored as PNG text chunks. */
export async function plotCurvesPng(series: readonly Series[], options: PlotOptions = {}, textChunks: Record<string, string> = {}): Promise<Uint8Array> {
  const c = plotCurves(series, options);
  return encodePng({ width: c.width, height: c.height, channels: 3, pixels: c.pixels }, textChunks);
}

function range(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.5, hi + (Math.abs(hi) || 1) * 0.5];
  return [lo, hi];
}

/** Tick values at multiples of 1, 2 or 5 × 10^k covering [lo, hi] with about `count` intervals. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let v = first; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  if (Number.isInteger(v)) return a >= 1000 && v % 1000 === 0 ? `${v / 1000}k` : String(v);
  return String(Number(v.toPrecision(4)));
}

function setPixel(c: RgbCanvas, x: number, y: number, color: readonly [number, number, number]): void {
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  const o = (y * c.width + x) * 3;
  c.pixels[o] = color[0];
  c.pixels[o + 1] = color[1];
  c.pixels[o + 2] = color[2];
}

function dot(c: RgbCanvas, x: number, y: number, color: readonly [number, number, number]): void {
  for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) setPixel(c, x + dx, y + dy, color);
}

/** Bresenham line. */
function line(c: RgbCanvas, x0: number, y0: number, x1: number, y1: number, color: readonly [number, number, number]): void {
  const dx = Math.abs(x1 - x0);
  const dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1;
  const sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    setPixel(c, x0, y0, color);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

// 3×5 bitmap font: each glyph is 5 rows of 3 bits (MSB = left column).
const FONT: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 1, 1], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], '+': [0, 2, 7, 2, 0], '_': [0, 0, 0, 0, 7], '/': [1, 1, 2, 4, 4],
  '%': [5, 1, 2, 4, 5], ':': [0, 2, 0, 2, 0], ' ': [0, 0, 0, 0, 0], '(': [1, 2, 2, 2, 1], ')': [4, 2, 2, 2, 4],
  a: [0, 7, 1, 7, 7], b: [4, 4, 7, 5, 7], c: [0, 7, 4, 4, 7], d: [1, 1, 7, 5, 7], e: [0, 7, 7, 4, 7],
  f: [3, 4, 6, 4, 4], g: [0, 7, 5, 7, 1], h: [4, 4, 7, 5, 5], i: [2, 0, 2, 2, 2], j: [1, 0, 1, 1, 6],
  k: [4, 5, 6, 5, 5], l: [6, 2, 2, 2, 7], m: [0, 7, 7, 5, 5], n: [0, 6, 5, 5, 5], o: [0, 7, 5, 5, 7],
  p: [0, 7, 5, 7, 4], q: [0, 7, 5, 7, 1], r: [0, 7, 4, 4, 4], s: [0, 7, 6, 1, 7], t: [4, 7, 4, 4, 3],
  u: [0, 5, 5, 5, 7], v: [0, 5, 5, 5, 2], w: [0, 5, 7, 7, 7], x: [0, 5, 2, 2, 5], y: [0, 5, 7, 1, 7], z: [0, 7, 2, 4, 7],
};

function textWidth(s: string): number {
  return s.length * 4;
}

function text(c: RgbCanvas, s: string, x: number, y: number, color: readonly [number, number, number]): void {
  for (const [k, ch] of [...s.toLowerCase()].entries()) {
    const glyph = FONT[ch] ?? FONT[' '];
    glyph.forEach((row, r) => {
      for (let b = 0; b < 3; b++) if (row & (4 >> b)) setPixel(c, x + k * 4 + b, y + r, color);
    });
  }
}
