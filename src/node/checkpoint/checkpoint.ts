// VGG checkpoints: the parameters under torchvision's names (so torchvision VGG-11/13/16/19 state
// dicts saved as safetensors load into A/B/D/E, and ours load in PyTorch), the configuration in
// the metadata, and — in a sibling `.train.safetensors` file, so the model file stays a plain
// state dict — the optimiser's momentum and the training state needed to resume exactly.
import { existsSync } from 'node:fs';
import { fmtShape, sameShape } from '../../errors.js';
import type { SGD } from '../../optim/sgd.js';
import type { Tensor } from '../../tensor.js';
import type { InputNorm } from '../../data/transforms.js';
import { resolveConfig, type VggConfig } from '../../vgg/config.js';
import type { Vgg } from '../../vgg/model.js';
import {
  CheckpointError,
  readSafetensors,
  type SafetensorsFile,
  type StoredTensor,
  writeSafetensors,
  writeSafetensorsAsync,
} from './safetensors.js';

const CONFIG_KEY = 'vggpu.config';
const STEP_KEY = 'vggpu.step';
const STATE_KEY = 'vggpu.train_state';
const PREPROCESS_KEY = 'vggpu.preprocess';

/** The resumable checkpoint's path for a model checkpoint path (`x.safetensors` → `x.train.safetensors`). */
export function trainStatePath(modelFile: string): string {
  return `${modelFile.replace(/\.safetensors$/, '')}.train.safetensors`;
}

async function readParams(net: Vgg): Promise<Array<[string, StoredTensor]>> {
  const out: Array<[string, StoredTensor]> = [];
  for (const [name, t] of net.namedParameters()) out.push([name, { shape: [...t.shape], data: await t.toArray() }]);
  return out;
}

/**
 * How a net's inputs were prepared in training; evaluation must do the same: per-channel `mean`
 * subtracted from [0, 1] pixels (null: none), then divided by `std` (absent: 1), images sampled
 * as `sampling` says (absent: ours).
 */
export interface Preprocess extends InputNorm {
  /** Training scale S: [S, S] or jittered [Smin, Smax]. */
  scale: [number, number];
  /** The dataset's class names, in label order. */
  classNames?: string[];
}

/** Saves the parameters (torchvision names) with the configuration and preprocessing in the metadata. */
export async function saveModel(file: string, net: Vgg, step = 0, preprocess?: Preprocess): Promise<void> {
  writeSafetensors(file, await readParams(net), modelMetadata(net, step, preprocess));
}

function modelMetadata(net: Vgg, step: number, preprocess?: Preprocess): Record<string, string> {
  const meta: Record<string, string> = {
    format: 'pt',
    [CONFIG_KEY]: JSON.stringify(net.config),
    [STEP_KEY]: String(step),
  };
  if (preprocess) meta[PREPROCESS_KEY] = JSON.stringify(preprocess);
  return meta;
}

/** The preprocessing stored with a checkpoint of ours, or null. */
export function checkpointPreprocess(file: SafetensorsFile): Preprocess | null {
  const raw = file.metadata[PREPROCESS_KEY];
  return raw ? (JSON.parse(raw) as Preprocess) : null;
}

/** The configuration stored in a checkpoint of ours, or null for a foreign (e.g. torchvision) one. */
export function checkpointConfig(file: SafetensorsFile, path: string): VggConfig | null {
  const raw = file.metadata[CONFIG_KEY];
  if (!raw) return null;
  try {
    return resolveConfig(JSON.parse(raw));
  } catch (e) {
    throw new CheckpointError(path, `its stored configuration is invalid (${(e as Error).message})`);
  }
}

/**
 * Copies a checkpoint's tensors into `net`. Every parameter must be present with the same shape and
 * nothing else may be there; the first mismatch is reported with both shapes, before anything is
 * written.
 */
export function loadParameters(net: Vgg, file: SafetensorsFile, path: string): void {
  const params = net.namedParameters();
  const describe = `VGG-${net.config.net} (${net.config.inChannels} channels, ${net.config.inputSize}px, ${net.config.classes} classes, width ×${net.config.width})`;
  for (const [name, t] of params) {
    const s = file.tensors.get(name);
    if (!s && file.tensors.has(`module.${name}`)) {
      throw new CheckpointError(
        path,
        `its tensor names carry a 'module.' prefix ('module.${name}'), as a DataParallel/DDP state dict saves them; strip the prefix (npm run eval and loadForEval do it for you)`,
      );
    }
    if (!s)
      throw new CheckpointError(
        path,
        `has no tensor '${name}' that ${describe} needs; is it a checkpoint of another net?`,
      );
    if (!sameShape(s.shape, t.shape)) {
      throw new CheckpointError(
        path,
        `tensor '${name}' is ${fmtShape(s.shape)} in the checkpoint but ${fmtShape(t.shape)} in ${describe}`,
      );
    }
  }
  const names = new Set(params.map(([n]) => n));
  for (const name of file.tensors.keys()) {
    if (!names.has(name))
      throw new CheckpointError(
        path,
        `has a tensor '${name}' that ${describe} does not have; is it a checkpoint of another net?`,
      );
  }
  for (const [name, t] of params) t.write(file.tensors.get(name)!.data);
}

/** Loads a model checkpoint into `net` (see loadParameters). */
export function loadModel(path: string, net: Vgg): SafetensorsFile {
  const file = readSafetensors(path);
  loadParameters(net, file, path);
  return file;
}

/**
 * The paper's initialisation of deeper nets (section 3.1): the first four conv layers and the three
 * FC layers come from a trained net A; A's block-b, position-j conv fills the deeper net's conv at
 * the same block and position (so each keeps its shape). The other layers keep their random init.
 */
export function initFromNetA(net: Vgg, path: string): string[] {
  const file = readSafetensors(path);
  const aConfig = checkpointConfig(file, path);
  if (aConfig && aConfig.net !== 'A' && aConfig.net !== 'A-LRN') {
    throw new CheckpointError(path, `is a checkpoint of VGG-${aConfig.net}; initialisation needs a trained net A`);
  }
  const aConvNames = [...file.tensors.keys()].filter((n) => n.startsWith('features.') && n.endsWith('.weight'));
  aConvNames.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  // Net A's first four convs sit at (block, position) (0,0), (1,0), (2,0), (2,1).
  const targets: Array<[number, number]> = [
    [0, 0],
    [1, 0],
    [2, 0],
    [2, 1],
  ];
  const convs = net.convLayers();
  const copied: string[] = [];
  const pairs: Array<[Tensor, StoredTensor, string]> = [];
  targets.forEach(([block, pos], i) => {
    const src = aConvNames[i];
    const dst = convs.find((c) => c.plan.block === block && c.plan.indexInBlock === pos);
    if (!src || !dst) throw new CheckpointError(path, `has too few conv layers for net A (found ${aConvNames.length})`);
    const prefix = src.replace(/\.weight$/, '');
    pairs.push([dst.conv.weight, file.tensors.get(`${prefix}.weight`)!, `${prefix}.weight → ${dst.plan.name}.weight`]);
    const bias = file.tensors.get(`${prefix}.bias`);
    if (!bias) throw new CheckpointError(path, `has no tensor '${prefix}.bias'`);
    if (dst.conv.bias) pairs.push([dst.conv.bias, bias, `${prefix}.bias → ${dst.plan.name}.bias`]); // VGG's convolutions all have one
  });
  for (const c of net.classifier) {
    for (const [p, t] of c.fc.parameters()) {
      const s = file.tensors.get(`${c.name}.${p}`);
      if (!s) throw new CheckpointError(path, `has no tensor '${c.name}.${p}'`);
      pairs.push([t, s, `${c.name}.${p}`]);
    }
  }
  for (const [t, s, what] of pairs) {
    if (!sameShape(s.shape, t.shape)) {
      throw new CheckpointError(
        path,
        `cannot initialise from net A: ${what} is ${fmtShape(s.shape)} in the checkpoint but ${fmtShape(t.shape)} here (same width, channels, input size and classes are needed)`,
      );
    }
  }
  for (const [t, s, what] of pairs) {
    t.write(s.data);
    copied.push(what);
  }
  return copied;
}

/** Everything besides parameters and momentum that resuming needs; stored as JSON. */
export type TrainState = Record<string, unknown> & { step: number };

const MOMENTUM_PREFIX = 'momentum.';

/**
 * Writes a resumable checkpoint as ONE file (parameters, momentum buffers under `momentum.<name>`,
 * configuration, preprocessing and training state), so a crash at any moment leaves either the
 * old or the new checkpoint whole. The plain model file `modelFile` (torchvision layout) follows.
 */
export async function saveTrainingCheckpoint(
  modelFile: string,
  net: Vgg,
  opt: SGD,
  state: TrainState,
  preprocess?: Preprocess,
): Promise<void> {
  await (await snapshotTrainingCheckpoint(modelFile, net, opt, state, preprocess))();
}

/**
 * saveTrainingCheckpoint in two parts: this reads everything off the GPU (which must happen
 * between steps) and returns the function that writes the files, which may run while training
 * goes on. The state is copied now, so later changes to it do not reach the files.
 */
export async function snapshotTrainingCheckpoint(
  modelFile: string,
  net: Vgg,
  opt: SGD,
  state: TrainState,
  preprocess?: Preprocess,
): Promise<() => Promise<void>> {
  const params = await readParams(net);
  const tensors = [...params];
  for (const [name, p] of net.namedParameters()) {
    const b = opt.buffers.get(p);
    if (b) tensors.push([MOMENTUM_PREFIX + name, { shape: [...b.shape], data: await b.toArray() }]);
  }
  const meta: Record<string, string> = {
    [CONFIG_KEY]: JSON.stringify(net.config),
    [STATE_KEY]: JSON.stringify(state),
    [STEP_KEY]: String(state.step),
  };
  if (preprocess) meta[PREPROCESS_KEY] = JSON.stringify(preprocess);
  const modelMeta = modelMetadata(net, state.step, preprocess);
  return async () => {
    await writeSafetensorsAsync(trainStatePath(modelFile), tensors, meta);
    await writeSafetensorsAsync(modelFile, params, modelMeta);
  };
}

/** Loads a resumable checkpoint (the `.train.safetensors` beside `modelFile`) into `net` and `opt`. */
export function loadTrainingCheckpoint(modelFile: string, net: Vgg, opt: SGD): TrainState {
  const path = trainStatePath(modelFile);
  if (!existsSync(path))
    throw new CheckpointError(
      path,
      'is missing: without it training cannot resume (the model file alone holds no optimiser state)',
    );
  const st = readSafetensors(path);
  const params = new Map<string, StoredTensor>();
  const momentum = new Map<string, StoredTensor>();
  for (const [name, t] of st.tensors)
    (name.startsWith(MOMENTUM_PREFIX) ? momentum : params).set(name.replace(MOMENTUM_PREFIX, ''), t);
  loadParameters(net, { tensors: params, metadata: st.metadata }, path);
  const byName = new Map(net.namedParameters());
  for (const [name, s] of momentum) {
    const p = byName.get(name);
    if (!p || p.size !== s.data.length) throw new CheckpointError(path, `momentum '${name}' does not match the net`);
    opt.momentumOf(p).write(s.data);
  }
  const raw = st.metadata[STATE_KEY];
  if (!raw) throw new CheckpointError(path, 'has no training state in its metadata');
  return JSON.parse(raw) as TrainState;
}
