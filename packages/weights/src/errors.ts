/**
 * Raised for any malformed, truncated or unsafe weights file. The message starts with the source (file name or
 * `"<bytes>"`) and names the problem, e.g. `model.safetensors: tensor "w": data_offsets [0, 12] past the end ...`.
 */
export class WeightsFormatError extends Error {
  constructor(
    /** File name or other label of the input. */
    readonly source: string,
    /** The problem, without the source. */
    readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
    this.name = 'WeightsFormatError';
  }
}

/** Throws a {@link WeightsFormatError}; typed `never` so it can end expressions. */
export function fail(source: string, problem: string): never {
  throw new WeightsFormatError(source, problem);
}
