import { describe, expect, it } from 'vitest';
import { findClassName, parseModelManifest } from './index';

const good = {
  format: 'svg-model',
  version: 1,
  name: 'm',
  dit: 'dit.safetensors',
  autoencoder: 'ae.safetensors',
  autoencoderConfig: 'ae.yaml',
  stats: null,
  classes: ['T-shirt/top', 'Ankle boot'],
  imageSize: 32,
  sampling: { steps: 25 },
};

describe('model manifest (svg-model.json)', () => {
  it('accepts a complete manifest and finds classes by loose name', () => {
    const m = parseModelManifest(good);
    expect(findClassName(m, 'ankle-boot')).toBe(1);
    expect(findClassName(m, 'T-shirt / top')).toBe(0);
    expect(findClassName(m, 'bag')).toBe(-1);
  });

  it('names the first problem of a broken manifest', () => {
    expect(() => parseModelManifest([], 'x.json')).toThrow('x.json: expected a JSON object');
    expect(() => parseModelManifest({ ...good, format: 'other' })).toThrow(/format must be "svg-model", got "other"/);
    expect(() => parseModelManifest({ ...good, version: 2 })).toThrow(/version 2 is not supported/);
    expect(() => parseModelManifest({ ...good, dit: '' })).toThrow(/dit must be a non-empty string/);
    expect(() => parseModelManifest({ ...good, classes: [] })).toThrow(/classes must be a non-empty list/);
    expect(() => parseModelManifest({ ...good, imageSize: 0 })).toThrow(/imageSize must be a positive integer/);
    expect(() => parseModelManifest({ ...good, sampling: { steps: 0 } }, 'x.json')).toThrow(/^x\.json: sampling\.steps must be an integer in \[1, 10000\], got 0$/);
    expect(() => parseModelManifest({ ...good, sampling: { mode: 'rk45' } })).toThrow(/sampling\.mode must be one of euler, heun, midpoint, rk4, dopri5, got "rk45"/);
  });
});
