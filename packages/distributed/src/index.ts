/**
 * `@svg/distributed`: data-parallel training across processes and hosts over MPI (Node only).
 *
 * {@link initDistributed} joins the job a launcher (`mpirun`, `mpiexec`, `srun --mpi=pmix`) started — rank, world
 * size and local rank from MPI itself — or returns a single process that needs no MPI. The {@link Distributed} it
 * returns has the collectives data-parallel training needs: {@link Distributed.allReduceMean} (bucketed, in place on
 * host memory), {@link Distributed.broadcastBytes} / {@link Distributed.broadcastJson} (rank 0's weights and state to
 * all), {@link Distributed.barrier}, each with a timeout so that a dead peer stops the job instead of hanging it.
 *
 * @example
 * import { initDistributed } from '@svg/distributed';
 * const dist = await initDistributed();
 * console.log(`${dist.label} on ${dist.library ?? 'one process'}`);
 * const [mean] = await dist.allReduceMean([tf.scalar(dist.rank)]);
 * dist.finalize();
 *
 * @packageDocumentation
 */
export { type CommunicationStats, Distributed, DistributedError, type DistributedOptions, initDistributed } from './distributed';
export { type LaunchEnvironment, launchEnvironment } from './environment';
