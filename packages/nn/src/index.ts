import './gradients';

export { Module, Parameter, type Initializer, type ParameterOptions, type TorchLayout } from './module';
export { loadStateDict, stateDict, fromTorchLayout, toTorchLayout, StateDictMismatchError, type LoadStateDictOptions, type LoadStateDictResult } from './state-dict';
export * as init from './init';
export { setInitSeed } from './init';
export { type SeedLike, SeededRandom, seededNormal, seededUniform } from './random';
export { initBackend, BackendUnavailableError, type BackendName, type BackendInfo, type InitBackendOptions } from './backend';
export { gelu, geluTanh, silu, activation, type Activation } from './layers/activations';
export { FUSED_KERNELS } from './fused';
export { Linear, type LinearOptions } from './layers/linear';
export { LayerNorm, RMSNorm, GroupNorm, type NormOptions } from './layers/norm';
export { Conv2d, type Conv2dOptions } from './layers/conv';
export { Embedding } from './layers/embedding';
export { Mlp, SwiGLU } from './layers/mlp';
export { Attention, scaledDotProductAttention, type AttentionOptions, type QKTransform } from './layers/attention';
export { Dropout } from './layers/dropout';
export { upsampleNearest2x } from './layers/upsample';
export { checkpoint } from './checkpoint';
