import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { StateDictMismatchError, stateDict } from '@svg/nn';
import { toFloat32, writeSafetensors } from '@svg/weights';
import { beforeAll, describe, expect, it } from 'vitest';
import { read, useBackend } from '../../../tools/testing/backends';
import { expectClose, fixturesDir, loadFixture } from '../../../tools/testing/fixtures';
import { configFromUpstream, ditStateDict, loadDiT } from './index';
import { loadDiTFile } from './node';

const checkpoint = (name: string) => join(fixturesDir(), 'checkpoints', name);

describe('loading official checkpoints (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('a torch.save state dict (dit_plain.pt) loads with its config inferred and reproduces the fixture', async () => {
    const fx = loadFixture('dit');
    const model = await loadDiTFile(checkpoint('dit_plain.pt'));
    expect(model.config).toEqual(configFromUpstream(fx.json.config.dit));
    expect(model.training).toBe(false);
    const [B, T, C] = fx.io.get('x')!.shape;
    const out = model.forward(tf.tensor3d(toFloat32(fx.io.get('x')!), [B, T, C]), toFloat32(fx.io.get('t')!), fx.json.config.y);
    expectClose('dit_plain.pt', await read(out), fx.io.get('out')!, fx.tolerance('out'));
    tf.dispose(out);
    model.dispose();
  });

  it("train_svg.py's {ema, step} checkpoint (zip, and the legacy format) unwraps to the EMA weights (defect D1 fixed)", async () => {
    const meta = loadFixture('checkpoints').json;
    const tiny = configFromUpstream(meta.tiny_models.tiny_dit);
    for (const file of ['dit_ema_step.pt', 'legacy_format.pt']) {
      const model = loadDiT(new Uint8Array(readFileSync(checkpoint(file))));
      expect(model.config).toEqual(tiny);
      const expected = meta.files.find((f: { file: string }) => f.file === `checkpoints/${file}`).expected;
      const ema = new Map<string, { sum: number; first4: number[] }>(expected.items.find(([k]: [string]) => k === 'ema')[1].items);
      const ours = await stateDict(model);
      expect([...ours.keys()]).toEqual([...ema.keys()]);
      for (const [key, want] of ema) {
        const got = ours.get(key)!.data as Float32Array;
        expect(Array.from(got.slice(0, 4))).toEqual(want.first4.slice(0, got.length));
        expect(got.reduce((a, v) => a + v, 0)).toBeCloseTo(want.sum, 3);
      }
      const out = model.forward(tf.zeros([1, 256, 8]) as tf.Tensor3D, [0.5], [10]);
      expect(out.shape).toEqual([1, 256, 16]);
      tf.dispose(out);
      model.dispose();
    }
  });

  it('safetensors bytes and prefixed (DDP module.) state dicts load too', () => {
    const sd = loadFixture('dit').weights();
    const bytes = writeSafetensors(sd);
    expect(ditStateDict(bytes).size).toBe(sd.size);
    const prefixed = new Map([...sd].map(([k, v]) => [`module.${k}`, v]));
    const model = loadDiT({ model: prefixed });
    expect(model.config.hiddenSize).toBe(128);
    model.dispose();
  });

  it('strict loading names missing, unexpected and mis-shaped keys (no silent strict=False, defect D26)', () => {
    const sd = new Map(loadFixture('dit').weights());
    sd.delete('blocks.1.mlp.fc2.bias');
    sd.set('blocks.1.extra', sd.get('ln1.bias')!);
    expect(() => loadDiT(sd)).toThrow(StateDictMismatchError);
    expect(() => loadDiT(sd)).toThrow(/blocks\.1\.mlp\.fc2\.bias.*blocks\.1\.extra|missing keys \(1\): blocks\.1\.mlp\.fc2\.bias/);
    // A config that disagrees with the weights is reported by shape.
    expect(() => loadDiT(loadFixture('dit').weights(), { mlpRatio: 2 })).toThrow(/blocks\.0\.mlp\.fc1\.weight: expected \[256,128\], got \[512,128\]/);
    expect(() => loadDiT(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))).toThrow(/not a safetensors, torch zip or torch legacy checkpoint/);
  });
});
