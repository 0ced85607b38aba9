// A float64 CPU VGG: forward, loss and every parameter gradient, from the same layer plan.
import type { LayerPlan } from '../src/vgg/config.js';
import * as ref from './reference.js';

type Params = Map<string, Float32Array>;

export function vggReference(
  plan: LayerPlan[],
  params: Params,
  x: Float32Array,
  shape: number[],
  labels: number[],
  lrnAlphaEff: number,
) {
  const N = shape[0];
  type Saved = { l: LayerPlan; input: Float64Array | Float32Array; inShape: number[]; output: Float64Array };
  const saved: Saved[] = [];
  let h: Float64Array | Float32Array = x;
  let hs = shape;
  for (const l of plan) {
    let out: Float64Array;
    let os: number[];
    if (l.kind === 'conv') {
      out = ref.conv2d(
        h,
        hs,
        params.get(`${l.name}.weight`)!,
        [l.outChannels, l.inChannels, l.kernel, l.kernel],
        params.get(`${l.name}.bias`)!,
        true,
      );
      os = [N, l.outChannels, hs[2], hs[3]];
    } else if (l.kind === 'lrn') {
      out = ref.lrn(h, hs, 5, 2, lrnAlphaEff, 0.75).y;
      os = hs;
    } else if (l.kind === 'pool') {
      out = ref.maxPool(h, hs).y;
      os = [N, hs[1], Math.floor(hs[2] / 2), Math.floor(hs[3] / 2)];
    } else {
      out = ref.linear(
        h,
        N,
        l.inFeatures,
        params.get(`${l.name}.weight`)!,
        l.outFeatures,
        params.get(`${l.name}.bias`)!,
        l.relu,
      );
      os = [N, l.outFeatures];
    }
    saved.push({ l, input: h, inShape: hs, output: out });
    h = out;
    hs = os;
  }
  const classes = hs[1];
  const { loss, grad } = ref.softmaxCrossEntropy(h, N, classes, labels);
  const grads = new Map<string, Float64Array>();
  let g: Float64Array = grad;
  for (const { l, input, inShape, output } of saved.reverse()) {
    if (l.kind === 'conv') {
      const gRelu = g.map((v, i) => (output[i] > 0 ? v : 0));
      const r = ref.conv2dBackward(
        input,
        inShape,
        params.get(`${l.name}.weight`)!,
        [l.outChannels, l.inChannels, l.kernel, l.kernel],
        gRelu,
      );
      grads.set(`${l.name}.weight`, r.dw);
      grads.set(`${l.name}.bias`, r.db);
      g = r.dx;
    } else if (l.kind === 'lrn') {
      g = ref.lrnBackward(input, inShape, 5, 2, lrnAlphaEff, 0.75, g);
    } else if (l.kind === 'pool') {
      g = ref.maxPoolBackward(input, inShape, g);
    } else {
      const gRelu = l.relu ? g.map((v, i) => (output[i] > 0 ? v : 0)) : g;
      const r = ref.linearBackward(input, N, l.inFeatures, params.get(`${l.name}.weight`)!, l.outFeatures, gRelu);
      grads.set(`${l.name}.weight`, r.dw);
      grads.set(`${l.name}.bias`, r.db);
      g = r.dx;
    }
  }
  return { logits: h, loss, grads };
}
