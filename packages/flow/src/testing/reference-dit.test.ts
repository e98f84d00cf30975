import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, loadFixture } from '../../../../tools/testing/fixtures';
import { referenceDit } from './reference-dit';
import { toTensor, useCpu } from './setup';

beforeAll(useCpu);

// The sampler/loss parity tests use this test-only model; check it against the DiT fixture first so a sampler
// failure cannot be a model bug.
describe('reference DiT (test support)', () => {
  it('matches the dit fixture', async () => {
    const fx = loadFixture('dit');
    const cfg = fx.json.config.dit;
    const model = referenceDit(fx.weights(), { hiddenSize: cfg.hidden_size, depth: cfg.depth, numHeads: cfg.num_heads });
    const out = model(toTensor(fx.io.get('x')!), toTensor(fx.io.get('t')!), toTensor(fx.io.get('y')!));
    const r = expectClose('dit out', await out.data(), fx.io.get('out')!, fx.tolerance('out'));
    console.log('dit reference', r);
    expect(r.ok).toBe(true);
    out.dispose();
  });
});
