/**
 * Node-only entry (`@svg/dit/node`): loading a DiT from a file path. The main entry stays free of `node:fs`.
 */
import { readCheckpointFile } from '@svg/weights/node';
import type { DiTConfigInput } from './config';
import type { DiT } from './dit';
import { loadDiT } from './load';

/**
 * {@link loadDiT} from a file, judged by content: a `torch.save` checkpoint (`.pt`/`.pth`, zip or legacy; e.g.
 * train_svg.py's `{"ema": ...}` or a plain state dict) or a safetensors file.
 *
 * @example
 * import { loadDiTFile } from '@svg/dit/node';
 * const model = await loadDiTFile('results/000-SVG-XL/checkpoints/0100000.pt');
 */
export async function loadDiTFile(path: string, config: DiTConfigInput = {}): Promise<DiT> {
  return loadDiT((await readCheckpointFile(path)) as object, config);
}
