// A VGG network built from its configuration's layer plan: torchvision-named layers, the plain
// forward pass, and the dense-evaluation form (FC layers run as convolutions).
import { conv2d } from '../ops/conv2d.js';
import { globalAvgPool } from '../ops/global_avg_pool.js';
import { flatten } from '../ops/reshape.js';
import { Conv2d, Dropout, Linear, LRN, MaxPool2d, type Module, type NamedParameter } from '../nn/layers.js';
import { LRN_DEFAULTS } from '../ops/lrn.js';
import { OpError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { type InitScheme, initLayer } from './init.js';
import { type LayerPlan, planLayers, resolveConfig, type VggConfig, type VggOptions } from './config.js';

/** A named feature layer of a Vgg. */
export interface VggLayer {
  name: string;
  module: Module;
}

/** A VGG network built from its configuration's layer plan. */
export class Vgg {
  readonly config: VggConfig;
  readonly plan: LayerPlan[];
  /** Convolutions, LRN and pools, in order, with torchvision's `features.i` names. */
  readonly features: VggLayer[] = [];
  /** FC layers (`classifier.0/3/6`), each followed by its dropout where the paper has one. */
  readonly classifier: Array<{ name: string; fc: Linear; dropout: Dropout | null }> = [];

  constructor(options: VggOptions) {
    this.config = resolveConfig(options);
    this.plan = planLayers(this.config);
    const lrnOptions = { ...LRN_DEFAULTS, convention: this.config.lrnConvention };
    for (const l of this.plan) {
      if (l.kind === 'conv')
        this.features.push({ name: l.name, module: new Conv2d(l.inChannels, l.outChannels, l.kernel, { relu: true }) });
      else if (l.kind === 'lrn') this.features.push({ name: l.name, module: new LRN(lrnOptions) });
      else if (l.kind === 'pool') this.features.push({ name: l.name, module: new MaxPool2d() });
      else
        this.classifier.push({
          name: l.name,
          fc: new Linear(l.inFeatures, l.outFeatures, { relu: l.relu }),
          dropout: l.dropoutAfter && this.config.dropout > 0 ? new Dropout(this.config.dropout) : null,
        });
    }
  }

  /** Parameters with torchvision's names, in state-dict order. */
  namedParameters(): NamedParameter[] {
    const out: NamedParameter[] = [];
    for (const f of this.features) for (const [p, t] of f.module.parameters()) out.push([`${f.name}.${p}`, t]);
    for (const c of this.classifier) for (const [p, t] of c.fc.parameters()) out.push([`${c.name}.${p}`, t]);
    return out;
  }

  /** All parameters, in state-dict order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** The conv layers in order (for initialisation from net A). */
  convLayers(): Array<{ plan: Extract<LayerPlan, { kind: 'conv' }>; conv: Conv2d }> {
    const convPlans = this.plan.filter((l): l is Extract<LayerPlan, { kind: 'conv' }> => l.kind === 'conv');
    const convs = this.features.map((f) => f.module).filter((m): m is Conv2d => m instanceof Conv2d);
    return convPlans.map((plan, i) => ({ plan, conv: convs[i] }));
  }

  /** Dropout on (training) or off (evaluation). */
  setTraining(training: boolean): void {
    for (const c of this.classifier) c.dropout?.setTraining(training);
  }

  /** (Re-)initialises every weight with `scheme`, biases to zero. */
  init(scheme: InitScheme = 'kaiming'): void {
    for (const { conv } of this.convLayers()) initLayer(conv.weight, conv.bias, scheme);
    for (const { fc } of this.classifier) initLayer(fc.weight, fc.bias, scheme);
  }

  private runFeatures(x: Tensor): Tensor {
    const { inChannels } = this.config;
    if (x.shape.length !== 4 || x.shape[1] !== inChannels) {
      throw new OpError(`VGG-${this.config.net}`, `input must be [N, ${inChannels}, H, W]`, { input: x.shape });
    }
    let h = x;
    for (const f of this.features) h = f.module.forward(h);
    return h;
  }

  /**
   * Logits [N, classes] for a batch of training-size images. `imageOffset`: where the batch starts
   * in a larger one it is a micro-batch of, so dropout masks do not depend on the split.
   */
  forward(x: Tensor, imageOffset = 0): Tensor {
    const s = this.config.inputSize;
    if (x.shape[2] !== s || x.shape[3] !== s) {
      throw new OpError(
        `VGG-${this.config.net}`,
        `the FC form takes ${s}×${s} inputs (use denseForward for other sizes)`,
        { input: x.shape },
      );
    }
    let h = flatten(this.runFeatures(x));
    for (const c of this.classifier) {
      h = c.fc.forward(h);
      if (c.dropout) h = c.dropout.forward(h, imageOffset);
    }
    return h;
  }

  /**
   * Dense evaluation (section 3.2): FC1 becomes a k×k convolution over the last feature map (k = its
   * size at the training input), FC2 and FC3 1×1 convolutions, so any input at least the training
   * size yields a class score map [N, classes, h, w]. Same weights, no copies. No dropout.
   */
  denseScoreMap(x: Tensor): Tensor {
    const s = this.config.inputSize;
    if (x.shape.length === 4 && (x.shape[2] < s || x.shape[3] < s)) {
      throw new OpError(`VGG-${this.config.net} dense`, `inputs must be at least the training size ${s}×${s}`, {
        input: x.shape,
      });
    }
    const lastPool = [...this.plan].reverse().find((l) => l.kind === 'pool')!;
    const k = lastPool.size;
    let h = this.runFeatures(x);
    this.classifier.forEach((c, i) => {
      const [out, inF] = c.fc.weight.shape;
      const kernel = i === 0 ? k : 1;
      const channels = inF / (kernel * kernel);
      const w = c.fc.weight.view([out, channels, kernel, kernel]);
      h = conv2d(h, w, c.fc.bias, { relu: c.fc.options.relu, padding: 0 });
    });
    return h;
  }

  /** Dense evaluation's class scores [N, classes]: the score map averaged over space. */
  denseForward(x: Tensor): Tensor {
    return globalAvgPool(this.denseScoreMap(x));
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
  }

  /** A one-line description. */
  toString(): string {
    const c = this.config;
    return `VGG-${c.net} (${c.inChannels}×${c.inputSize}×${c.inputSize} → ${c.classes} classes, width ×${c.width})`;
  }
}

/** Builds and initialises a VGG network. */
export function buildVgg(options: VggOptions & { init?: InitScheme }): Vgg {
  const net = new Vgg(options);
  net.init(options.init ?? 'kaiming');
  return net;
}
