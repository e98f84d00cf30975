import { createRequire } from 'node:module';

/** The native binding built from src/native/mpi.c. */
export interface MpiAddon {
  init(): { rank: number; size: number; localRank: number; localSize: number; threadLevel: number; library: string };
  /** In-place sum over all ranks. */
  allReduceSum(values: Float32Array | Float64Array): Promise<void>;
  /** Root's bytes into every rank's array of the same length. */
  broadcast(bytes: Uint8Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  /** MPI_Abort: ends every rank of the job with `code`. Never returns. */
  abort(code: number): never;
  finalize(): void;
}

// src/ (tests) and dist/ (built bundles) both sit one level below the package root, next to build/.
const ADDON_PATH = '../build/Release/svg_mpi.node';

/** Loads the addon; throws the loader's error (no MPI library, addon not built). */
export function loadMpiAddon(): MpiAddon {
  return createRequire(import.meta.url)(ADDON_PATH) as MpiAddon;
}
