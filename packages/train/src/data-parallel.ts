import type { Distributed } from '@svg/distributed';
import { type DType, type RawTensor, dtypeSize, numel, typedView } from '@svg/weights';

/**
 * Rank 0's tensors on every rank (weights, EMA, optimizer moments after a resume or an initial checkpoint that only
 * rank 0 may be able to read): the names, dtypes and shapes travel first, then each tensor's bytes. Other ranks
 * pass null. In one process the tensors come back as they are.
 */
export async function shareTensors(dist: Distributed, tensors: ReadonlyMap<string, RawTensor> | null): Promise<Map<string, RawTensor>> {
  if (dist.worldSize === 1) return new Map(tensors!);
  const list = dist.isMain ? [...tensors!].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })) : null;
  const header = await dist.broadcastJson(list);
  const out = new Map<string, RawTensor>();
  for (const { name, dtype, shape } of header!) {
    const mine = dist.isMain ? tensors!.get(name)!.data : null;
    const bytes = await dist.broadcastBytes(mine ? new Uint8Array(mine.buffer, mine.byteOffset, mine.byteLength) : null);
    out.set(name, { dtype, shape, data: dist.isMain ? mine! : typedView(dtype as DType, bytes, 0, bytes.length / dtypeSize(dtype as DType)) });
    if (!dist.isMain && bytes.length !== numel(shape) * dtypeSize(dtype as DType)) throw new Error(`shared tensor ${name}: ${bytes.length} bytes for shape [${shape.join(', ')}] ${dtype}`);
  }
  return out;
}

/**
 * This rank's rows of a global batch of `rows` rows of `width` values: rank `r` of `W` holds global rows
 * `r, r + W, r + 2W, …` — the rows its `DistributedSampler` shard holds — so values drawn for the whole global
 * batch from one shared generator give every sample the value it would get in a single process.
 */
export function rankRows<T extends Float32Array | Uint8Array>(all: T, rows: number, width: number, dist: Pick<Distributed, 'rank' | 'worldSize'>): T {
  const { rank, worldSize } = dist;
  if (worldSize === 1) return all;
  const mine = rows / worldSize;
  const out = new (all.constructor as new (n: number) => T)(mine * width);
  for (let m = 0; m < mine; m++) {
    const q = rank + m * worldSize;
    out.set(all.subarray(q * width, (q + 1) * width), m * width);
  }
  return out;
}
