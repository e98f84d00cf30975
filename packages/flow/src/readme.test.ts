import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import * as flow from './index';
import { useCpu } from './testing/setup';

beforeAll(useCpu);

describe('README', () => {
  it('runs the first example and gets the Gaussian it promises', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)![1];
    const body = block.replace(/^import .*$/gm, '');
    const logs: unknown[][] = [];
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
    const run = new AsyncFunction('tf', 'flow', 'console', `const { ${Object.keys(flow).join(', ')} } = flow;\n${body}`);
    const before = tf.memory().numTensors;
    await run(tf, flow, { log: (...args: unknown[]) => logs.push(args) });
    expect(tf.memory().numTensors).toBe(before);
    expect(logs.filter((l) => String(l[0]).startsWith('step'))).toHaveLength(20);
    const last = logs[logs.length - 1];
    expect(last[0]).toBe('mean');
    expect(last[1] as number).toBeCloseTo(3, 1);
    expect(last[3] as number).toBeCloseTo(0.5, 1);
  });
});
