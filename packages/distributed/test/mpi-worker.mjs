// One rank of the multi-process tests in src/mpi.test.ts (run under mpirun, on the built package).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initDistributed } from '../dist/index.js';

const scenario = process.argv[2];
await tf.setBackend('cpu');
const dist = await initDistributed({ bucketBytes: 64, timeoutSeconds: Number(process.env.TEST_TIMEOUT ?? 60) });
const out = (value) => console.log(`RESULT ${dist.rank} ${JSON.stringify(value)}`);

if (scenario === 'collectives') {
  // Sizes that end inside, exactly at and across 16-element buckets.
  const shapes = [[3], [4, 5], [16], [1], [7, 9]];
  const inputs = shapes.map((s, i) => tf.tidy(() => tf.add(tf.reshape(tf.range(0, s.reduce((a, b) => a * b, 1)), s), 100 * i + 1000 * dist.rank)));
  const before = tf.memory().numTensors;
  const means = await dist.allReduceMean(inputs);
  const json = await dist.broadcastJson(dist.rank === 0 ? { step: 7, path: 'a/b' } : null);
  const bytes = await dist.broadcastBytes(dist.rank === 1 ? new Uint8Array([5, 6, 7]) : null, 1);
  await dist.barrier();
  const any = await dist.anyTrue(dist.rank === 1);
  const none = await dist.anyTrue(false);
  out({ info: { rank: dist.rank, worldSize: dist.worldSize, localRank: dist.localRank, localSize: dist.localSize, launcher: dist.launch?.launcher },
    means: means.map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) })), tensorsAfter: tf.memory().numTensors - before,
    json, bytes: Array.from(bytes), any, none, stats: dist.stats });
  dist.finalize();
} else if (scenario === 'hang') {
  if (dist.rank === 1) await new Promise((r) => setTimeout(r, 60_000));
  try {
    await dist.allReduceMean([tf.ones([10])]);
  } catch (e) {
    console.error(`ERROR ${e.message}`);
    dist.abort(3);
  }
} else if (scenario === 'die') {
  if (dist.rank === 1) process.kill(process.pid, 'SIGKILL');
  await dist.allReduceMean([tf.ones([10])]);
  out('finished');
}
