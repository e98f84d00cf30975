import { writeFile } from 'node:fs/promises';
import { writeSafetensors } from '@svg/weights';
import { type ChannelStats, statsTensors } from './stats';

/**
 * Writes latent statistics as a safetensors file with the official `dinov3_sp_stats` layout
 * (`dinov3_sp_mean`, `dinov3_sp_std`: float32 `[1, 1, C]`), loadable wherever the converted official file is.
 */
export async function writeStatsFile(path: string, stats: ChannelStats, metadata: Record<string, string> = {}): Promise<void> {
  await writeFile(path, writeSafetensors(statsTensors(stats), { count: String(stats.count), ...metadata }));
}
