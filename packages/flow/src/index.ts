/**
 * @svg/flow: rectified flow for SVG, independent of any model. Time runs from `t = 0` (noise) to `t = 1` (data).
 *
 * - schedules: {@link timeSchedule}, {@link shiftTime}, {@link timeDeltas}
 * - training: {@link rectifiedFlowLoss}
 * - sampling: {@link sample} (Euler, Heun, midpoint, RK4, adaptive Dormand–Prince) with every classifier-free
 *   guidance mode of the reference ({@link parseCfgMode}) and a guidance interval; its settings, their defaults
 *   and ranges once: {@link SamplerSettings}, {@link SAMPLE_DEFAULTS}, {@link resolveSamplerSettings}
 * - latent normalisation: {@link loadLatentStats}, {@link normalizeLatent}, {@link denormalizeLatent}
 * - reproducible host noise: {@link SeededRandom}, {@link seededNormal}
 */
export { shiftTime, unshiftTime, timeSchedule, timeDeltas, uniformGrid } from './schedule';
export { type VelocityFn, selectVelocity, evalVelocity } from './velocity';
export { type FlowLoss, type FlowLossOptions, rectifiedFlowLoss, shiftTensor } from './loss';
export {
  type CfgModeString,
  type CfgSchedule,
  type GuidanceContext,
  type GuidanceRule,
  parseCfgMode,
  formatCfgMode,
  isStepIndexed,
  guidanceRule,
  applyGuidance,
  inGuidanceInterval,
} from './guidance';
export { type SampleOptions, type StepInfo, sample } from './solvers/samplers';
export {
  type SamplerSettings,
  type SolverName,
  SAMPLE_DEFAULTS,
  SAMPLER_LIMITS,
  SOLVERS,
  SamplerSettingsError,
  resolveSamplerSettings,
} from './settings';
export {
  type LatentStats,
  type NormalizeOptions,
  type StatsVector,
  SVG_STATS_KEYS,
  loadLatentStats,
  latentStatsFromSafetensors,
  latentStatsFromTensors,
  normalizeLatent,
  denormalizeLatent,
  base64ToBytes,
} from './normalization';
// Seeded host noise lives in @svg/nn; re-exported because sampling code always needs it.
export { type SeedLike, SeededRandom, seededNormal, seededUniform } from '@svg/nn';
