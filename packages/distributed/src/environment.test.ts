import { describe, expect, it } from 'vitest';
import { launchEnvironment } from './environment';

describe('launchEnvironment', () => {
  it('is null in a plain process', () => {
    expect(launchEnvironment({ PATH: '/usr/bin' })).toBeNull();
  });

  it('reads each launcher, Open MPI first', () => {
    expect(launchEnvironment({ OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_LOCAL_RANK: '0', WORLD_SIZE: '9' })).toEqual({
      launcher: 'mpirun', worldSize: 4, rank: 2, localRank: 0, source: 'OMPI_COMM_WORLD_SIZE=4',
    });
    expect(launchEnvironment({ PMI_SIZE: '2', PMI_RANK: '1' })).toMatchObject({ launcher: 'mpiexec', worldSize: 2, rank: 1, localRank: null });
    expect(launchEnvironment({ SLURM_NTASKS: '8', SLURM_PROCID: '5', SLURM_LOCALID: '1' })).toMatchObject({ launcher: 'srun', worldSize: 8, rank: 5, localRank: 1 });
    expect(launchEnvironment({ WORLD_SIZE: '2', RANK: '0', LOCAL_RANK: '0', MASTER_ADDR: 'h' })).toMatchObject({ launcher: 'torchrun', worldSize: 2, rank: 0 });
  });

  it('names the variable that is wrong', () => {
    expect(() => launchEnvironment({ WORLD_SIZE: 'two' })).toThrow('WORLD_SIZE=two is not an integer ≥ 1');
    expect(() => launchEnvironment({ WORLD_SIZE: '0' })).toThrow('WORLD_SIZE=0');
    expect(() => launchEnvironment({ WORLD_SIZE: '2', RANK: '2' })).toThrow('RANK=2 is not below WORLD_SIZE=2');
    expect(() => launchEnvironment({ SLURM_NTASKS: '2', SLURM_PROCID: '-1' })).toThrow('SLURM_PROCID=-1');
  });
});
