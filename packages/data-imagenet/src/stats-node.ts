import { writeSafetensorsFile } from '@svg/weights/node';
import { type ChannelStats, statsTensors } from './stats';

/**
 * Writes latent statistics as a safetensors file with the official `dinov3_sp_stats` layout
 * (`dinov3_sp_mean`, `dinov3_sp_std`: float32 `[1, 1, C]`), loadable wherever the converted official file is.
 * Written atomically (temporary file, then rename).
 */
export async function writeStatsFile(
  path: string,
  stats: Pick<ChannelStats, 'mean' | 'std'> & { readonly count?: number },
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeSafetensorsFile(path, statsTensors(stats), { ...(stats.count !== undefined ? { count: String(stats.count) } : {}), ...metadata });
}
