import { type Distributed, DistributedError, initDistributed } from '@svg/distributed';
import { type ClassifierEval, type TrainOptions, type TrainProgress, loadTrainConfig, trainAutoencoder, trainClassifier, trainDiT } from '@svg/train';
import { CliError } from '../cli-error';
import { backendHelp, backendOption, defineCommand, intOption, requireString } from '../command';
import { requireFile } from '../files';
import { ProgressBar } from '../progress';

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train the DiT, the autoencoder or a classifier (the semantic encoder, the sample scorer) from a YAML config; resumable',
  usage: 'svg train <dit|autoencoder|classifier> --config <yaml> [--resume] [--max-steps N] [--run-dir <dir>]',
  examples: [
    'svg train dit --config configs/tiny-dit-fashion-mnist.yaml',
    'svg train dit --config config/example_svg_xl.yaml --resume',
    'svg train autoencoder --config configs/tiny-autoencoder-fashion-mnist.yaml --max-steps 200',
    'svg train classifier --config configs/fashion-mnist/encoder.yaml',
    'mpirun -np 4 svg train dit --config configs/tiny-dit-fashion-mnist.yaml   # data-parallel: 4 ranks share global_batch_size',
  ],
  options: {
    config: { type: 'string' },
    resume: { type: 'boolean' },
    'resume-from': { type: 'string' },
    'max-steps': { type: 'string' },
    'run-dir': { type: 'string' },
    ...backendOption,
  },
  optionHelp: {
    config: 'the upstream YAML (config/example_svg_xl.yaml or autoencoder/configs/*.yaml), or ours in configs/',
    resume: 'continue from the newest valid checkpoint of the run folder',
    'resume-from': 'continue from this checkpoint folder',
    'max-steps': 'stop after this many optimiser steps (overrides train.max_steps)',
    'run-dir': 'run folder (default <results_dir>/<exp_name> of the config)',
    ...backendHelp,
  },
  async run({ values, positionals }) {
    const [kind] = positionals;
    if ((kind !== 'dit' && kind !== 'autoencoder' && kind !== 'classifier') || positionals.length !== 1) {
      throw new CliError('expected "svg train dit", "svg train autoencoder" or "svg train classifier" (see: svg train --help)');
    }
    const configPath = requireFile(requireString(values, 'config', 'train'), 'config');
    let config;
    try {
      config = await loadTrainConfig(configPath);
    } catch (e) {
      throw new CliError(`${configPath}: ${(e as Error).message}`);
    }
    const label = { dit: 'a DiT', autoencoder: 'an autoencoder', classifier: 'a classifier' };
    if (config.kind !== kind) throw new CliError(`${configPath} is ${label[config.kind]} config, not ${label[kind]} config`);
    const backend = values.backend as TrainOptions['backend'];
    let distributed: Distributed;
    try {
      distributed = await initDistributed();
    } catch (e) {
      if (e instanceof DistributedError) throw new CliError(e.message);
      throw e;
    }
    if (distributed.worldSize > 1 && kind === 'classifier') throw new CliError('svg train classifier runs in one process; launch it without mpirun/srun');
    const controller = new AbortController();
    const stop = (signal: NodeJS.Signals) => {
      if (distributed.isMain) console.error(`\n${signal}: stopping after this step (a checkpoint is written; continue with --resume)`);
      controller.abort();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let bar: ProgressBar | undefined;
    const options: TrainOptions = {
      config,
      backend,
      resume: (values['resume-from'] as string | undefined) ?? (values.resume as boolean | undefined),
      maxSteps: intOption(values, 'max-steps', 1),
      runDir: values['run-dir'] as string | undefined,
      signal: controller.signal,
      distributed,
      onLog: (line) => console.error(line),
      onProgress: (p: TrainProgress) => {
        bar ??= new ProgressBar('training', p.maxSteps ?? Number.MAX_SAFE_INTEGER, 'step');
        bar.update(p.step, `loss ${p.smoothLoss.toFixed(4)}`);
      },
    };
    try {
      const train = { dit: trainDiT, autoencoder: trainAutoencoder, classifier: trainClassifier }[kind];
      const result = await train(options);
      if (!distributed.isMain) return;
      console.log(`${result.stopped} at step ${result.step}; last checkpoint: ${result.checkpoint ?? 'none'}`);
      const evaluation = 'eval' in result ? (result.eval as ClassifierEval | null) : null;
      if (evaluation) console.log(`test accuracy: ${(100 * evaluation.testAccuracy).toFixed(2)} % (${evaluation.testImages} images)`);
    } catch (e) {
      const message = (e as Error).message;
      const usage = e instanceof DistributedError || /already has checkpoints|resume|not a .* config|non-finite|NaN/i.test(message);
      if (distributed.worldSize > 1) {
        // The other ranks would wait for this one in their next collective: end the whole job now.
        console.error(`svg: ${distributed.label}: ${usage ? message : ((e as Error).stack ?? message)}`);
        distributed.abort(usage ? 2 : 1);
      }
      if (usage) throw new CliError(message);
      throw e;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
});
