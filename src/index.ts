/**
 * vggpu's engine core: tensors, ops with gradients, layers, optimiser, the VGG networks, kernel
 * tuning and data parallelism. It imports nothing from Node and bundles for a browser; it runs on
 * whatever host is installed (setHost). In Node, import the package ("vggpu", node/index.ts),
 * which installs the Node host and adds datasets, the trainer, checkpoints and evaluation.
 * @packageDocumentation
 */

// Device and engine
export { init, initDevices, engine, onDevice, setCurrentDevice, Engine } from './engine.js';
export {
  Runtime,
  GpuError,
  fmtBytes,
  MESA_LOOP_BUDGET,
  type BufferRange,
  type Dispatch,
  type Uniforms,
} from './gpu/runtime.js';
export { H100_LIMITS } from './gpu/limits_device.js';
export { PipelineCache, type WantedPipeline } from './gpu/pipelines.js';
export type { AdapterChoice, BackendName } from './gpu/adapter_choice.js';
export { setHost, host, type Host } from './host.js';
export { BufferPool, type PoolStats } from './gpu/pool.js';
export type { BakedConstants } from './gpu/kernels.js';

// Tensors and autograd
export { Tensor, tidy, keep, sizeOf } from './tensor.js';
export { OpError, type Shape } from './errors.js';
export {
  backward,
  noGrad,
  clearTape,
  record,
  tapeOf,
  type BackwardRule,
  type BackwardOptions,
  type TapeNode,
} from './autograd/tape.js';
export { Rng } from './rng.js';

// Ops (each differentiable unless noted)
export { conv2d, type Conv2dOptions } from './ops/conv2d.js';
export { linear, type LinearOptions } from './ops/linear.js';
export { matmul } from './ops/matmul.js';
export { maxPool2d } from './ops/maxpool2d.js';
export { lrn, LRN_DEFAULTS, type LrnOptions, type LrnConvention } from './ops/lrn.js';
export { relu } from './ops/relu.js';
export { dropout, type DropoutOptions } from './ops/dropout.js';
export { softmaxCrossEntropy } from './ops/softmax_cross_entropy.js';
export { globalAvgPool } from './ops/global_avg_pool.js';
export { reshape, flatten } from './ops/reshape.js';
export { add, scale, copy, fill, fillInPlace, accumulateInto } from './ops/elementwise.js';

// Kernel variants: timed per adapter, cached on disk, or forced.
export {
  PASSES,
  setVariant,
  forceVariants,
  chooseVariant,
  collectChoices,
  type Choice,
  type TuneJob,
  tuningFile,
  tuningsForAdapter,
  type Pass,
  type Tuned,
} from './ops/variants.js';
export {
  tuneStep,
  tuneConv,
  tuneGemm,
  gemmVariants,
  tuningEnabled,
  defaultTuneBudget,
  TuningStopped,
  type TuneOptions,
  type ConvShape,
  type GemmShape,
  type TuneResult,
  type TuneProgress,
  type StepVariant,
} from './ops/tune.js';
export { convVariants, type ConvPass } from './ops/conv2d.js';

// Layers, initialisation, optimiser, schedule
export {
  Conv2d,
  Linear,
  MaxPool2d,
  LRN,
  ReLU,
  Dropout,
  Flatten,
  Sequential,
  type Module,
  type NamedParameter,
} from './nn/layers.js';
export { INIT_SCHEMES, initValues, initLayer, type InitScheme } from './vgg/init.js';
export { SGD, type SgdOptions } from './optim/sgd.js';
export { PlateauSchedule, type PlateauState } from './train/schedule.js';

// VGG
export {
  NET_NAMES,
  VGG_TABLE,
  resolveConfig,
  planLayers,
  summarise,
  formatSummary,
  type NetName,
  type VggToken,
  type VggOptions,
  type VggConfig,
  type LayerPlan,
  type SummaryRow,
} from './vgg/config.js';
export { Vgg, buildVgg, type VggLayer } from './vgg/model.js';

// Checkpoint format (files: the Node entry)
export {
  parseSafetensors,
  serializeSafetensors,
  CheckpointError,
  type SafetensorsFile,
  type StoredTensor,
} from './checkpoint/safetensors.js';

// Data
export { parseIdx, FASHION_MNIST_CLASSES } from './data/idx_format.js';
export {
  DatasetError,
  Subset,
  type ImageDataset,
  type RawImage,
  type DatasetSpec,
  type Window,
} from './data/dataset.js';
export {
  rescaledSize,
  centreOffsets,
  sampleWindow,
  viewSample,
  trainSample,
  centreSample,
  fullSample,
  channelStats,
  symmetricEigen,
  type AugmentOptions,
  type ChannelStats,
  type InputNorm,
  type Sampling,
} from './data/transforms.js';
export { resizeAntialiased } from './data/resample.js';

// Training and evaluation
export { topKMisses, ErrorCounter, type ErrorRates } from './train/metrics.js';
export { estimateMemory, preflight, type MemoryEstimate, type StepPlan } from './train/preflight.js';
export { GradientExchange, broadcastReplica, BUCKET_BYTES, type Replica } from './train/data_parallel.js';
