/** What the process environment says about the job this process belongs to, before MPI is asked. */
export interface LaunchEnvironment {
  /** The launcher whose variables were found: `mpirun` (Open MPI), `mpiexec` (MPICH/Hydra, PMI), `srun` (SLURM), `torchrun`. */
  launcher: 'mpirun' | 'mpiexec' | 'srun' | 'torchrun';
  /** Processes the launcher started. */
  worldSize: number;
  /** This process's rank, when the launcher says. */
  rank: number | null;
  /** Rank on this host, when the launcher says. */
  localRank: number | null;
  /** The variable the world size came from, for messages (`OMPI_COMM_WORLD_SIZE=2`). */
  source: string;
}

type Env = Record<string, string | undefined>;

const LAUNCHERS: { launcher: LaunchEnvironment['launcher']; size: string; rank: string; local: string | null }[] = [
  { launcher: 'mpirun', size: 'OMPI_COMM_WORLD_SIZE', rank: 'OMPI_COMM_WORLD_RANK', local: 'OMPI_COMM_WORLD_LOCAL_RANK' },
  { launcher: 'mpiexec', size: 'PMI_SIZE', rank: 'PMI_RANK', local: 'MPI_LOCALRANKID' },
  { launcher: 'srun', size: 'SLURM_NTASKS', rank: 'SLURM_PROCID', local: 'SLURM_LOCALID' },
  { launcher: 'torchrun', size: 'WORLD_SIZE', rank: 'RANK', local: 'LOCAL_RANK' },
];

/**
 * The launcher's variables: Open MPI's `mpirun`, MPICH's `mpiexec` (PMI), SLURM's `srun`, and the torchrun /
 * Kubeflow convention (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`), in that order of precedence. Null when none is set, i.e.
 * a plain single process. Throws on values that are not integers in range.
 */
export function launchEnvironment(env: Env = process.env): LaunchEnvironment | null {
  for (const l of LAUNCHERS) {
    const size = env[l.size];
    if (size === undefined || size === '') continue;
    const worldSize = parseCount(l.size, size, 1);
    const rank = env[l.rank] !== undefined ? parseCount(l.rank, env[l.rank]!, 0) : null;
    const localRank = l.local && env[l.local] !== undefined ? parseCount(l.local, env[l.local]!, 0) : null;
    if (rank !== null && rank >= worldSize) throw new Error(`${l.rank}=${rank} is not below ${l.size}=${worldSize}`);
    return { launcher: l.launcher, worldSize, rank, localRank, source: `${l.size}=${size}` };
  }
  return null;
}

function parseCount(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new Error(`${name}=${value} is not an integer ≥ ${min}`);
  return n;
}
