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
    const controller = new AbortController();
    const stop = () => {
      console.error('\nstopping after this step (a checkpoint is written; continue with --resume)');
      controller.abort();
    };
    process.once('SIGINT', stop);
    let bar: ProgressBar | undefined;
    const options: TrainOptions = {
      config,
      backend,
      resume: (values['resume-from'] as string | undefined) ?? (values.resume as boolean | undefined),
      maxSteps: intOption(values, 'max-steps', 1),
      runDir: values['run-dir'] as string | undefined,
      signal: controller.signal,
      onLog: (line) => console.error(line),
      onProgress: (p: TrainProgress) => {
        bar ??= new ProgressBar('training', p.maxSteps ?? Number.MAX_SAFE_INTEGER, 'step');
        bar.update(p.step, `loss ${p.smoothLoss.toFixed(4)}`);
      },
    };
    try {
      const train = { dit: trainDiT, autoencoder: trainAutoencoder, classifier: trainClassifier }[kind];
      const result = await train(options);
      console.log(`${result.stopped} at step ${result.step}; last checkpoint: ${result.checkpoint ?? 'none'}`);
      const evaluation = 'eval' in result ? (result.eval as ClassifierEval | null) : null;
      if (evaluation) console.log(`test accuracy: ${(100 * evaluation.testAccuracy).toFixed(2)} % (${evaluation.testImages} images)`);
    } catch (e) {
      const message = (e as Error).message;
      if (/already has checkpoints|resume|not a .* config|non-finite|NaN/i.test(message)) throw new CliError(message);
      throw e;
    } finally {
      process.off('SIGINT', stop);
    }
  },
});
