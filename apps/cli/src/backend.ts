import { BackendUnavailableError, initBackend, type BackendName } from '@svg/nn';
import { CliError } from './cli-error';

const NAMES = ['auto', 'webgpu', 'wasm', 'cpu', 'tensorflow'];

/** Starts the backend named by `--backend` and prints which one runs. */
export async function startBackend(name: unknown): Promise<void> {
  const choice = typeof name === 'string' ? name : 'auto';
  if (!NAMES.includes(choice)) throw new CliError(`--backend must be one of ${NAMES.join(', ')}, got "${choice}"`);
  try {
    const info = await initBackend(choice as BackendName);
    console.error(`backend: ${info.name} (${info.detail})`);
  } catch (e) {
    if (e instanceof BackendUnavailableError) throw new CliError(e.message);
    throw e;
  }
}
