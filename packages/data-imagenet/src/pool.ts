import { Worker } from 'node:worker_threads';
import type { ImageJob, ImageJobResult } from './job';

/** The built worker script next to this module (`dist/worker.js`). */
export function defaultWorkerScript(): URL {
  return new URL('./worker.js', import.meta.url);
}

interface Slot {
  worker: Worker;
  inFlight: number;
  failed?: Error;
}

/**
 * A fixed set of worker threads running {@link ImageJob}s, each job on the least busy worker. Idle workers do
 * not keep the process alive; call {@link WorkerPool.close} when done.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (r: ImageJobResult) => void; reject: (e: Error) => void; slot: Slot }>();
  private nextId = 0;
  private closed = false;

  constructor(workers: number, script: string | URL = defaultWorkerScript()) {
    if (!Number.isInteger(workers) || workers < 1) throw new Error(`worker count must be a positive integer, got ${workers}`);
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(script);
      const slot: Slot = { worker, inFlight: 0 };
      worker.on('message', (r: ImageJobResult) => this.settle(r));
      worker.on('error', (e) => this.fail(slot, e));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(slot, new Error(`image worker exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** Runs a job on a worker: resolves with its result (a bad image is `ok: false`); rejects only if the worker died. */
  run(job: Omit<ImageJob, 'id'>): Promise<ImageJobResult> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    const live = this.slots.filter((s) => !s.failed);
    if (live.length === 0) return Promise.reject(this.slots[0].failed);
    const slot = live.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    return new Promise<ImageJobResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot });
      if (slot.inFlight++ === 0) slot.worker.ref();
      slot.worker.postMessage({ ...job, id } satisfies ImageJob);
    });
  }

  private settle(r: ImageJobResult): void {
    const w = this.waiting.get(r.id);
    if (!w) return;
    this.waiting.delete(r.id);
    if (--w.slot.inFlight === 0) w.slot.worker.unref();
    w.resolve(r);
  }

  private fail(slot: Slot, error: Error): void {
    slot.failed ??= error;
    for (const [id, w] of this.waiting) {
      if (w.slot !== slot) continue;
      this.waiting.delete(id);
      w.reject(new Error(`image worker failed: ${error.message}`));
    }
    slot.inFlight = 0;
    slot.worker.unref();
  }

  /** Stops the workers; pending jobs reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) this.fail(s, new Error('worker pool closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
