// Layers: modules that own parameters and call the ops. Minimal on purpose — a layer is its
// parameters plus one forward function; the tape does the rest.
import { type Conv2dOptions, conv2d } from '../ops/conv2d.js';
import { dropout } from '../ops/dropout.js';
import { linear } from '../ops/linear.js';
import { lrn, type LrnOptions } from '../ops/lrn.js';
import { maxPool2d } from '../ops/maxpool2d.js';
import { relu } from '../ops/relu.js';
import { flatten } from '../ops/reshape.js';
import { keep, Tensor } from '../tensor.js';

/** A parameter with its name (e.g. `features.0.weight`). */
export type NamedParameter = [name: string, tensor: Tensor];

/** A layer: parameters plus a forward function. */
export interface Module {
  /** Runs the layer (recorded on the tape when gradients are on). */
  forward(x: Tensor): Tensor;
  /** Trainable tensors, named relative to this module (e.g. "weight", "0.bias"). */
  parameters(): NamedParameter[];
  /** Switches training behaviour (dropout) on or off, recursively. */
  setTraining(training: boolean): void;
}

/** A parameter tensor: uninitialised, marked as needing a gradient, not owned by any tidy scope. */
function parameterTensor(shape: number[], label: string): Tensor {
  const t = keep(Tensor.empty(shape, label));
  t.requiresGrad = true;
  return t;
}

abstract class Leaf implements Module {
  abstract forward(x: Tensor): Tensor;
  parameters(): NamedParameter[] {
    return [];
  }
  setTraining(_training: boolean): void {}
}

/** 2-D convolution layer (stride 1, same padding by default), optional fused ReLU; `bias: false` leaves the bias out (as PyTorch's). */
export class Conv2d extends Leaf {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly options: Conv2dOptions & { bias?: boolean } = {},
  ) {
    super();
    this.weight = parameterTensor([outChannels, inChannels, kernelSize, kernelSize], 'conv weight');
    this.bias = options.bias === false ? null : parameterTensor([outChannels], 'conv bias');
  }
  /** Runs the layer. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { relu: this.options.relu, padding: this.options.padding });
  }
  /** Weight and bias (if any). */
  override parameters(): NamedParameter[] {
    return this.bias
      ? [
          ['weight', this.weight],
          ['bias', this.bias],
        ]
      : [['weight', this.weight]];
  }
}

/** Fully-connected layer, optional fused ReLU; `bias: false` leaves the bias out. */
export class Linear extends Leaf {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly options: { relu?: boolean; bias?: boolean } = {},
  ) {
    super();
    this.weight = parameterTensor([outFeatures, inFeatures], 'linear weight');
    this.bias = options.bias === false ? null : parameterTensor([outFeatures], 'linear bias');
  }
  /** Runs the layer. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, { relu: this.options.relu });
  }
  /** Weight and bias (if any). */
  override parameters(): NamedParameter[] {
    return this.bias
      ? [
          ['weight', this.weight],
          ['bias', this.bias],
        ]
      : [['weight', this.weight]];
  }
}

/** 2×2 max-pool, stride 2. */
export class MaxPool2d extends Leaf {
  /** Runs the layer. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x);
  }
}

/** Local response normalisation across channels. */
export class LRN extends Leaf {
  constructor(readonly options: LrnOptions = {}) {
    super();
  }
  /** Runs the layer. */
  forward(x: Tensor): Tensor {
    return lrn(x, this.options);
  }
}

/** ReLU layer. */
export class ReLU extends Leaf {
  /** Runs the layer. */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Flattens [N, …] to [N, features]. */
export class Flatten extends Leaf {
  /** Runs the layer. */
  forward(x: Tensor): Tensor {
    return flatten(x);
  }
}

/** Inverted dropout; identity when not training. */
export class Dropout extends Leaf {
  training = true;
  constructor(readonly p: number) {
    super();
  }
  /**
   * Runs the layer. `imageOffset`: where this batch starts in a larger one it is a micro-batch of
   * (gradient accumulation), so each image gets the mask it would have in the whole batch.
   */
  forward(x: Tensor, imageOffset = 0): Tensor {
    return dropout(x, { p: this.p, training: this.training, indexOffset: imageOffset * (x.size / x.shape[0]) });
  }
  /** Dropout is active only in training. */
  override setTraining(training: boolean): void {
    this.training = training;
  }
}

/** Runs named modules in order; parameter names are prefixed with each module's name. */
export class Sequential implements Module {
  constructor(readonly modules: Array<[name: string, module: Module]>) {}
  /** Runs the layer. */
  forward(x: Tensor): Tensor {
    let h = x;
    for (const [, m] of this.modules) h = m.forward(h);
    return h;
  }
  parameters(): NamedParameter[] {
    return this.modules.flatMap(([name, m]) => m.parameters().map(([p, t]): NamedParameter => [`${name}.${p}`, t]));
  }
  setTraining(training: boolean): void {
    for (const [, m] of this.modules) m.setTraining(training);
  }
}
