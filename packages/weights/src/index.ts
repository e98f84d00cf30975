/**
 * @svg/weights: safetensors and PyTorch checkpoint reading/writing and numpy `.npy` / `.npz` reading, with no tfjs
 * dependency, for Node and the browser. Node file helpers (`readSafetensorsFile`, `writeSafetensorsFile`,
 * `readCheckpointFile`, `readNpzFile`, `openNpzArray`, ...) live in the `@svg/weights/node` entry so this one never
 * imports `node:fs`.
 */
export { WeightsFormatError } from './errors';
export {
  type DType,
  type RawTensor,
  type TypedArray,
  DTYPES,
  type FloatDType,
  castTensor,
  convertTensor,
  dtypeSize,
  halfToNumber,
  numberToBFloat16,
  numberToHalf,
  numel,
  toFloat32,
  toInt32,
  typedView,
} from './dtypes';
export {
  type ReadSafetensorsOptions,
  type Safetensors,
  type SafetensorsEntry,
  type SafetensorsHeader,
  parseSafetensorsHeader,
  readSafetensors,
  writeSafetensors,
} from './safetensors';
export { type StateDictLike, findStateDict, isRawTensor, isStateDict, stripPrefix, toStateDict } from './state-dict';
export {
  type CheckpointFormat,
  type ReadTorchOptions,
  defaultMaterializeLimit,
  detectCheckpointFormat,
  readCheckpoint,
  readTorchCheckpoint,
} from './torch';
export { PickleGlobal, PickleObject, pickleState } from './pickle';
export {
  type NpyHeader,
  type NpzMember,
  type ReadNpzOptions,
  NPY_MAX_HEADER,
  decodeNpyData,
  npyHeaderLength,
  npzInfo,
  parseNpyHeader,
  readNpy,
  readNpz,
} from './npz';
export { crc32 } from './zip';
