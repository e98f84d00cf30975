/**
 * Worker-thread entry of the image loader: receives {@link ImageJob}s, answers {@link ImageJobResult}s with the
 * pixel buffer transferred. Built as `dist/worker.js`; started by {@link WorkerPool}.
 */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { type ImageJob, runImageJob } from './job';

// One libvips thread per worker: parallelism comes from the workers, not from oversubscribing cores.
sharp.concurrency(1);

const port = parentPort;
if (!port) throw new Error('@svg/data-imagenet worker must run in a worker thread');
port.on('message', (job: ImageJob) => {
  void runImageJob(job).then((result) => {
    port.postMessage(result, result.ok ? [result.pixels.buffer as ArrayBuffer] : []);
  });
});
