import type { DiT } from '@svg/dit';
import type { LatentStats, StatsVector } from '@svg/flow';

/** The parts of one generator, as {@link checkGeneratorParts} sees them. */
export interface GeneratorParts {
  dit: Pick<DiT, 'config'>;
  /** The decoder, or its latent channel count; a decoder without `latentChannels` is not checked. */
  decoder?: { readonly latentChannels?: number } | number | null;
  /** Latent statistics the DiT was trained with; `null` or absent: not checked. */
  stats?: LatentStats | null;
  /** Class names by label (e.g. a model folder's); absent: not checked. */
  classNames?: readonly string[] | null;
}

/** Raised by {@link checkGeneratorParts}: a DiT, decoder, statistics or class list that do not belong together. */
export class GeneratorMismatchError extends Error {
  override name = 'GeneratorMismatchError';
}

/** Number of values of one statistics vector (whatever its shape). */
export function statsChannels(v: StatsVector): number {
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return (v as ArrayLike<number>).length;
  return (v as { shape: readonly number[] }).shape.reduce((a, b) => a * b, 1);
}

/**
 * Checks, before any sampling, that a DiT, a latent decoder, latent statistics and class names make one
 * generator: the decoder decodes the DiT's latent channels, the statistics have one mean/std per channel, the
 * class list names every DiT class. Throws a {@link GeneratorMismatchError} (one line) naming the first problem.
 */
export function checkGeneratorParts(parts: GeneratorParts): void {
  const { inChannels: c, numClasses } = parts.dit.config;
  const decoderChannels = typeof parts.decoder === 'number' ? parts.decoder : parts.decoder?.latentChannels;
  if (decoderChannels !== undefined && decoderChannels !== c) {
    throw new GeneratorMismatchError(`the DiT makes ${c}-channel latents but the decoder takes ${decoderChannels} channels: these models do not belong together`);
  }
  if (parts.stats) {
    const mean = statsChannels(parts.stats.mean);
    const std = statsChannels(parts.stats.std);
    if (mean !== c || std !== c) {
      throw new GeneratorMismatchError(`the latent statistics have ${mean === std ? mean : `${mean} (mean) / ${std} (std)`} channels but the DiT makes ${c}-channel latents`);
    }
  }
  if (parts.classNames && parts.classNames.length !== numClasses) {
    throw new GeneratorMismatchError(`${parts.classNames.length} class names are given but the DiT has ${numClasses} classes`);
  }
}
