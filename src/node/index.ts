/**
 * vggpu for Node: the engine core (../index.ts) on the Node host (Dawn's adapters, a cache folder,
 * the environment), plus what needs Node — datasets and the input pipeline, the trainer,
 * checkpoint files and the test protocols. This is the package's main entry point.
 * @packageDocumentation
 */
import './host.js';

export * from '../index.js';
export { nodeHost } from './host.js';
export {
  saveModel,
  loadModel,
  loadParameters,
  initFromNetA,
  checkpointConfig,
  checkpointPreprocess,
  saveTrainingCheckpoint,
  loadTrainingCheckpoint,
  trainStatePath,
  type Preprocess,
  type TrainState,
} from './checkpoint/checkpoint.js';
export {
  readSafetensors,
  writeSafetensors,
  CheckpointError,
  type SafetensorsFile,
  type StoredTensor,
} from './checkpoint/safetensors.js';
export { IdxDataset, FASHION_MNIST_DIR } from './data/idx.js';
export { CifarDataset, CIFAR10_CLASSES } from './data/cifar.js';
export { ImageFolderDataset, listClassFolders } from './data/image_folder.js';
export { decodeImage, readImage, nativeDecoder } from './data/decode.js';
export { openData, openSpec, holdOut, type DataChoice } from './data/open.js';
export { makeBatch, epochOrder, mixSeed, type Batch } from './data/batches.js';
export { BatchMaker } from './data/batch_maker.js';
export {
  Trainer,
  DivergedError,
  StoppedBeforeStart,
  savedOptions,
  type TrainOptions,
  type TrainEvent,
  type EpochRecord,
} from './train/trainer.js';
export {
  METHODS,
  softmaxRows,
  gridPositions,
  viewsOf,
  imagesPosteriors,
  posteriors,
  type Method,
  type View,
} from './eval/protocols.js';
export {
  loadForEval,
  checkFits,
  testScales,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type LoadedNet,
  type EvalOverrides,
} from './eval/load.js';
