import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@svg/nn';
import { inceptionScore, softmaxRows } from './inception-score';

describe('Inception Score', () => {
  it('softmax rows sum to 1 and ignore a constant shift', () => {
    const rng = new SeededRandom(5);
    const logits = Float32Array.from({ length: 4 * 7 }, () => 3 * rng.normal());
    const p = softmaxRows(logits, 7);
    const q = softmaxRows(logits.map((x) => x + 50), 7);
    for (let i = 0; i < 4; i++) expect(p.subarray(i * 7, i * 7 + 7).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
    for (let i = 0; i < p.length; i++) expect(q[i]).toBeCloseTo(p[i], 6);
    expect(softmaxRows([1000, 0], 2)[1]).toBe(0);
  });

  it('is 1 for identical predictions and C for confident predictions spread evenly over C classes', () => {
    const classes = 5;
    expect(inceptionScore(new Float32Array(3 * classes).fill(0.7), classes).score).toBeCloseTo(1, 14);
    const oneHot = new Float32Array(classes * classes);
    for (let i = 0; i < classes; i++) oneHot[i * classes + i] = 1000;
    expect(inceptionScore(oneHot, classes).score).toBeCloseTo(classes, 12);
  });

  it('averages exp(mean KL) over splits, a shorter last split counting fully', () => {
    // Rows 0, 1 predict different classes (split score 2); row 2 alone (split score 1): mean 1.5.
    const logits = Float32Array.from([1000, 0, 0, 0, 1000, 0, 0, 0, 1000]);
    const is = inceptionScore(logits, 3, { splitSize: 2 });
    expect(Array.from(is.splitScores).map((x) => +x.toFixed(12))).toEqual([2, 1]);
    expect(is.score).toBeCloseTo(1.5, 12);
    expect(inceptionScore(logits, 3).score).toBeCloseTo(3, 12);
    expect(() => inceptionScore(logits, 4)).toThrow(/rows of 4/);
    expect(() => inceptionScore(logits, 3, { splitSize: 0 })).toThrow(/split size/);
  });
});
