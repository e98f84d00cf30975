import { describe, expect, it } from 'vitest';
import { Rng, hashInts, permutation } from './random';
import { flipDecision, shardIndices, shardLength } from './sampler';

/** DistributedSampler's index arithmetic, applied to a given permutation (a literal transcription of torch). */
function torchShard(order: number[], rank: number, world: number, dropLast: boolean): number[] {
  const n = order.length;
  const numSamples = dropLast && n % world !== 0 ? Math.ceil((n - world) / world) : Math.ceil(n / world);
  const total = numSamples * world;
  let indices = [...order];
  if (!dropLast) {
    const pad = total - indices.length;
    if (pad <= indices.length) indices = indices.concat(indices.slice(0, pad));
    else indices = indices.concat(Array.from({ length: Math.ceil(pad / indices.length) }, () => indices).flat().slice(0, pad));
  } else {
    indices = indices.slice(0, total);
  }
  return indices.filter((_, i) => i >= rank && (i - rank) % world === 0 && i < total);
}

describe('DistributedSampler semantics', () => {
  const cases: [number, number, boolean][] = [
    [10, 1, false], [10, 3, false], [10, 3, true], [10, 4, true], [3, 8, false], [3, 8, true], [16, 4, false], [7, 7, true], [1, 2, false],
  ];
  for (const [size, world, dropLast] of cases) {
    it(`size ${size}, world ${world}, drop_last ${dropLast}`, () => {
      const order = Array.from(permutation(size, new Rng(5 + 2)));
      const seen: number[] = [];
      for (let rank = 0; rank < world; rank++) {
        const ours = Array.from(shardIndices(2, { size, rank, worldSize: world, seed: 5, dropLast }));
        expect(ours).toEqual(torchShard(order, rank, world, dropLast));
        expect(ours.length).toBe(shardLength({ size, worldSize: world, dropLast }));
        seen.push(...ours);
      }
      if (dropLast || size % world === 0) expect(new Set(seen).size).toBe(seen.length); // ranks are disjoint
      if (!dropLast) expect(new Set(seen).size).toBe(size); // padding covers everything
    });
  }

  it('shuffles differently per epoch and identically for the same seed; no shuffle is the identity', () => {
    const a = shardIndices(0, { size: 100, seed: 1 });
    expect(shardIndices(0, { size: 100, seed: 1 })).toEqual(a);
    expect(shardIndices(1, { size: 100, seed: 1 })).not.toEqual(a);
    expect(shardIndices(0, { size: 100, seed: 2 })).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(shardIndices(3, { size: 5, shuffle: false, worldSize: 2, rank: 1 }))).toEqual([1, 3, 0]);
  });

  it('rejects bad ranks, world sizes and epochs', () => {
    expect(() => shardIndices(0, { size: 4, rank: 2, worldSize: 2 })).toThrow(/rank/);
    expect(() => shardIndices(0, { size: 4, worldSize: 0 })).toThrow(/worldSize/);
    expect(() => shardIndices(-1, { size: 4 })).toThrow(/epoch/);
  });
});

describe('PRNG', () => {
  it('draws uniform integers (chi-square over 10 bins) and deterministic streams', () => {
    const rng = new Rng(42);
    const bins = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) bins[rng.below(10)]++;
    const chi2 = bins.reduce((s, b) => s + (b - 2000) ** 2 / 2000, 0);
    expect(chi2).toBeLessThan(30); // 9 dof: p < 0.0005 of failing by chance
    expect(new Rng(42).nextUint32()).toBe(new Rng(42).nextUint32());
    expect(new Rng(42).nextUint32()).not.toBe(new Rng(43).nextUint32());
    expect(hashInts(2 ** 40, 1)).not.toBe(hashInts(2 ** 40 + 1, 1));
  });

  it('flips about half of the images, and none or all at p = 0 or 1', () => {
    let flips = 0;
    for (let i = 0; i < 10000; i++) flips += flipDecision(7, 3, i) ? 1 : 0;
    expect(flips).toBeGreaterThan(4700);
    expect(flips).toBeLessThan(5300);
    expect(flipDecision(7, 3, 0, 0)).toBe(false);
    expect(flipDecision(7, 3, 0, 1)).toBe(true);
  });
});
