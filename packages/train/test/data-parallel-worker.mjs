// One rank of the data-parallel tests in src/data-parallel.test.ts: trains the micro DiT on the built package.
// argv: <run dir> <max steps> [resume checkpoint | "latest"]; env KILL_RANK + KILL_AT_BATCH: that rank SIGKILLs
// itself when asked for that micro-batch (0-based), i.e. in the middle of a run. env AUTOENCODER=<batch per rank>:
// the tiny autoencoder instead.
import { fileURLToPath } from 'node:url';
import { FashionMnistSource, loadTrainConfig, trainAutoencoder, trainDiT } from '@svg/train';

const [runDir, maxSteps, resume] = process.argv.slice(2);
const configs = fileURLToPath(new URL('../../../configs/', import.meta.url));
if (process.env.AUTOENCODER) {
  const c = await loadTrainConfig(`${configs}tiny-autoencoder-fashion-mnist.yaml`);
  const config = { ...c, batchSize: Number(process.env.AUTOENCODER), ckptEvery: 2, logEvery: 1, train: { ...c.train, limit: 64, sampleEvery: 0, maxSteps: Number(maxSteps) } };
  const result = await trainAutoencoder({ config, runDir, backend: 'cpu', resume: resume === 'latest' ? true : resume });
  console.log(`RESULT ${process.env.OMPI_COMM_WORLD_RANK ?? 0} ${JSON.stringify(result)}`);
  process.exit(0);
}
const c = await loadTrainConfig(`${configs}tiny-dit-fashion-mnist.yaml`);
const config = {
  ...c,
  globalBatchSize: 4,
  accumIter: 2,
  logEvery: 1,
  ckptEvery: 2,
  model: { ...c.model, hiddenSize: 16, depth: 1, numHeads: 1 },
  train: { ...c.train, limit: 64, sampleEvery: 0, keepCheckpoints: 10, maxSteps: Number(maxSteps) },
};

const rank = Number(process.env.OMPI_COMM_WORLD_RANK ?? 0);
let source;
if (process.env.KILL_RANK !== undefined && Number(process.env.KILL_RANK) === rank) {
  const inner = await FashionMnistSource.open(undefined, { limit: 64, channels: config.model.inChannels, seed: 0 });
  source = Object.create(inner, {
    batches: {
      value: async function* (from, options) {
        let served = 0;
        for await (const b of inner.batches(from, options)) {
          if (served++ === Number(process.env.KILL_AT_BATCH)) process.kill(process.pid, 'SIGKILL');
          yield b;
        }
      },
    },
  });
}
const result = await trainDiT({ config, runDir, backend: 'cpu', resume: resume === 'latest' ? true : resume, source });
console.log(`RESULT ${rank} ${JSON.stringify(result)}`);
