// The evaluation CLI's flags (apart from the CLI, so that tests and the docs check can read them).
import { NET_NAMES } from '../../vgg/config.js';
import { METHODS } from '../eval/protocols.js';
import { type FlagSpec, TUNE_BUDGET_FLAG, VARIANTS_FLAG } from './args.js';

export const EVAL_FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', multiple: true, help: 'checkpoint to evaluate; repeat to fuse several nets' },
  data: { type: 'string', help: 'dataset (as for training); default: the one the first checkpoint’s run used' },
  method: { type: 'string', help: `${METHODS.join(', ')}, or all; comma-separated for several`, default: 'centre' },
  scales: { type: 'string', help: 'test scales Q, comma-separated (overrides the paper’s defaults)' },
  'multi-scale': { type: 'boolean', help: 'average over the paper’s three test scales instead of one' },
  limit: { type: 'string', help: 'evaluate only the first N validation images' },
  batch: { type: 'string', help: 'views per forward pass', default: '128' },
  net: {
    type: 'string',
    help: `which VGG a foreign (torchvision) checkpoint is: ${NET_NAMES.join(', ')}`,
    default: 'inferred from its tensors',
  },
  classes: {
    type: 'string',
    help: 'class count of a foreign checkpoint (checked against its last layer)',
    default: 'inferred from its last layer',
  },
  mean: { type: 'string', help: 'per-channel mean on [0, 1] pixels, comma-separated (replaces the checkpoint’s)' },
  std: {
    type: 'string',
    help: 'per-channel std, comma-separated (replaces the checkpoint’s; torchvision files: ImageNet’s)',
  },
  json: { type: 'string', help: 'also write the results as JSON to this file ("-" for standard output)' },
  'val-fraction': {
    type: 'string',
    help: 'held-out share for data without a test split (as in training)',
    default: '0.1',
  },
  seed: { type: 'string', help: 'seed of the held-out split (as in training)', default: '1' },
  workers: {
    type: 'string',
    help: 'input-pipeline processes decoding images ahead of the GPU (0: on the main thread)',
    default: 'cores − 1',
  },
  variants: VARIANTS_FLAG,
  'tune-budget': TUNE_BUDGET_FLAG,
  verbose: { type: 'boolean', help: 'show engine-internal detail (Dawn’s start-up messages)' },
  help: { type: 'boolean', help: 'show this help' },
};
