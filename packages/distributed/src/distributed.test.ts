import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { DistributedError, initDistributed } from './distributed';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('initDistributed in one process', () => {
  it('is rank 0 of 1 without any launcher, and its collectives change nothing', async () => {
    const dist = await initDistributed({ env: {} });
    expect([dist.rank, dist.worldSize, dist.localRank, dist.isMain, dist.library]).toEqual([0, 1, 0, true, null]);
    const a = tf.tensor([1, 2, 3]);
    const [b] = await dist.allReduceMean([a]);
    expect(b).toBe(a);
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    a.dispose();
    const values = new Float64Array([4]);
    await dist.allReduceSum(values);
    expect(values[0]).toBe(4);
    expect(await dist.broadcastJson({ x: 1 })).toEqual({ x: 1 });
    expect(await dist.anyTrue(true)).toBe(true);
    expect(await dist.anyTrue(false)).toBe(false);
    await dist.barrier();
    await expect(dist.broadcastBytes(null)).rejects.toThrow('the root (rank 0) must pass the bytes');
  });

  it('refuses a torchrun world that MPI does not see, naming the launcher to use', async () => {
    const error = await initDistributed({ env: { WORLD_SIZE: '2', RANK: '0', LOCAL_RANK: '0' } }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DistributedError);
    expect((error as Error).message).toMatch(/^WORLD_SIZE=2 \(torchrun\) but MPI sees 1 process: .*mpirun -np 2/);
  });

  it('refuses bad settings with the value', async () => {
    await expect(initDistributed({ env: { SVG_DIST_TIMEOUT: 'soon' } })).rejects.toThrow('positive number of seconds, got soon');
    await expect(initDistributed({ env: { OMPI_COMM_WORLD_SIZE: 'x' } })).rejects.toThrow('OMPI_COMM_WORLD_SIZE=x is not an integer');
  });
});
