// The six VGG configurations of Simonyan & Zisserman (Table 1) as one data table, the options
// that scale them (channels, input size, classes, width), and the layer plan every network,
// summary and checkpoint name is derived from. No GPU needed here.
import type { LrnConvention } from '../ops/lrn.js';

/** The six VGG configurations of Table 1. */
export const NET_NAMES = ['A', 'A-LRN', 'B', 'C', 'D', 'E'] as const;
/** One of NET_NAMES. */
export type NetName = (typeof NET_NAMES)[number];

/** Per block: 'c3' = 3×3 conv, 'c1' = 1×1 conv, 'lrn' = local response normalisation. */
/** A layer in Table 1: 3×3 conv, 1×1 conv, or LRN. */
export type VggToken = 'c3' | 'c1' | 'lrn';
const c3x = (n: number): VggToken[] => Array<VggToken>(n).fill('c3');

/** Table 1 of the paper: each configuration's blocks as lists of layers. */
export const VGG_TABLE: Record<NetName, VggToken[][]> = {
  A: [c3x(1), c3x(1), c3x(2), c3x(2), c3x(2)],
  'A-LRN': [['c3', 'lrn'], c3x(1), c3x(2), c3x(2), c3x(2)],
  B: [c3x(2), c3x(2), c3x(2), c3x(2), c3x(2)],
  C: [c3x(2), c3x(2), [...c3x(2), 'c1'], [...c3x(2), 'c1'], [...c3x(2), 'c1']],
  D: [c3x(2), c3x(2), c3x(3), c3x(3), c3x(3)],
  E: [c3x(2), c3x(2), c3x(4), c3x(4), c3x(4)],
};

/** Output channels of each block's convolutions, and the FC width, at width 1. */
const BLOCK_CHANNELS = [64, 128, 256, 512, 512];
const FC_WIDTH = 4096;

/** Options that scale a VGG configuration. */
export interface VggOptions {
  net: NetName;
  /** Input channels: 3 for RGB, 1 for grayscale. Default 3. */
  inChannels?: number;
  /** Square input size (the training crop). Default 224; at least 32 (five 2×2 pools). */
  inputSize?: number;
  /** Default 1000. */
  classes?: number;
  /** Multiplies every conv's channels and the FC width (0.25 → 16…128 channels, FC 1024). Default 1. */
  width?: number;
  /** Dropout after FC1 and FC2 in training. Default 0.5. */
  dropout?: number;
  /** α convention for A-LRN's LRN; default 'caffe' (α/n, as Caffe and PyTorch). */
  lrnConvention?: LrnConvention;
}

/** VggOptions with every default filled in. */
export type VggConfig = Required<VggOptions>;

/** Fills in defaults and validates, with errors that say what to do. */
export function resolveConfig(o: VggOptions): VggConfig {
  const c: VggConfig = {
    inChannels: 3,
    inputSize: 224,
    classes: 1000,
    width: 1,
    dropout: 0.5,
    lrnConvention: 'caffe',
    ...o,
  };
  const bad = (what: string, fix: string) => {
    throw new Error(`VGG config: ${what}; ${fix}`);
  };
  if (!NET_NAMES.includes(c.net)) bad(`unknown net '${c.net}'`, `choose one of ${NET_NAMES.join(', ')}`);
  if (!Number.isInteger(c.inChannels) || c.inChannels < 1)
    bad(`inChannels ${c.inChannels} is not a positive integer`, 'use 3 for RGB or 1 for grayscale');
  if (!Number.isInteger(c.inputSize) || c.inputSize < 32)
    bad(`input size ${c.inputSize} is too small`, 'five 2×2 max-pools need at least 32');
  if (!Number.isInteger(c.classes) || c.classes < 2)
    bad(`classes ${c.classes} must be an integer ≥ 2`, 'match your dataset');
  if (!(c.width > 0) || !Number.isFinite(c.width)) bad(`width ${c.width} must be > 0`, 'e.g. 0.25 for a CPU-sized net');
  if (!(c.dropout >= 0 && c.dropout < 1)) bad(`dropout ${c.dropout} must be in [0, 1)`, 'the paper uses 0.5');
  if (c.lrnConvention !== 'caffe' && c.lrnConvention !== 'alexnet')
    bad(`LRN convention '${c.lrnConvention}'`, "use 'caffe' (α/n) or 'alexnet' (α)");
  return c;
}

/** One layer of a network's plan, with torchvision's module name. */
export type LayerPlan =
  | {
      kind: 'conv';
      name: string;
      inChannels: number;
      outChannels: number;
      kernel: 1 | 3;
      size: number;
      block: number;
      indexInBlock: number;
    }
  | { kind: 'lrn'; name: string; channels: number; size: number }
  | { kind: 'pool'; name: string; channels: number; size: number }
  | { kind: 'fc'; name: string; inFeatures: number; outFeatures: number; relu: boolean; dropoutAfter: boolean };

const scaled = (base: number, width: number) => Math.max(1, Math.round(base * width));

/**
 * The network as a list of layers with torchvision's module names: every conv is followed by a
 * ReLU (fused into the conv, but it still takes a `features` index, as do LRN and max-pool),
 * and the classifier is Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
 */
export function planLayers(config: VggConfig): LayerPlan[] {
  const plan: LayerPlan[] = [];
  let index = 0;
  let channels = config.inChannels;
  let size = config.inputSize;
  VGG_TABLE[config.net].forEach((tokens, block) => {
    const out = scaled(BLOCK_CHANNELS[block], config.width);
    let convInBlock = 0;
    for (const t of tokens) {
      if (t === 'lrn') {
        plan.push({ kind: 'lrn', name: `features.${index++}`, channels, size });
      } else {
        plan.push({
          kind: 'conv',
          name: `features.${index}`,
          inChannels: channels,
          outChannels: out,
          kernel: t === 'c1' ? 1 : 3,
          size,
          block,
          indexInBlock: convInBlock++,
        });
        index += 2; // conv + ReLU
        channels = out;
      }
    }
    size = Math.floor(size / 2);
    plan.push({ kind: 'pool', name: `features.${index++}`, channels, size });
  });
  const fc = scaled(FC_WIDTH, config.width);
  const flat = channels * size * size;
  plan.push({ kind: 'fc', name: 'classifier.0', inFeatures: flat, outFeatures: fc, relu: true, dropoutAfter: true });
  plan.push({ kind: 'fc', name: 'classifier.3', inFeatures: fc, outFeatures: fc, relu: true, dropoutAfter: true });
  plan.push({
    kind: 'fc',
    name: 'classifier.6',
    inFeatures: fc,
    outFeatures: config.classes,
    relu: false,
    dropoutAfter: false,
  });
  return plan;
}

/** One row of a network summary. */
export interface SummaryRow {
  name: string;
  layer: string;
  /** N omitted: [C, H, W] or [features]. */
  outputShape: number[];
  params: number;
  /** Multiply-adds per image. */
  macs: number;
}

/** Per-layer output shapes, parameters and multiply-adds, and totals. */
export function summarise(config: VggConfig): { rows: SummaryRow[]; params: number; macs: number } {
  const rows = planLayers(config).map((l): SummaryRow => {
    switch (l.kind) {
      case 'conv': {
        const w = l.outChannels * l.inChannels * l.kernel * l.kernel;
        return {
          name: l.name,
          layer: `conv${l.kernel}x${l.kernel}-${l.outChannels} + ReLU`,
          outputShape: [l.outChannels, l.size, l.size],
          params: w + l.outChannels,
          macs: w * l.size * l.size,
        };
      }
      case 'lrn':
        return { name: l.name, layer: 'LRN', outputShape: [l.channels, l.size, l.size], params: 0, macs: 0 };
      case 'pool':
        return { name: l.name, layer: 'maxpool 2×2', outputShape: [l.channels, l.size, l.size], params: 0, macs: 0 };
      case 'fc':
        return {
          name: l.name,
          layer: `FC-${l.outFeatures}${l.relu ? ' + ReLU' : ''}${l.dropoutAfter ? ' + dropout' : ''}`,
          outputShape: [l.outFeatures],
          params: l.inFeatures * l.outFeatures + l.outFeatures,
          macs: l.inFeatures * l.outFeatures,
        };
    }
  });
  return { rows, params: rows.reduce((a, r) => a + r.params, 0), macs: rows.reduce((a, r) => a + r.macs, 0) };
}

/** The summary as an aligned text table. */
export function formatSummary(config: VggConfig): string {
  const { rows, params, macs } = summarise(config);
  const table = [
    ['layer', 'type', 'output', 'params', 'mult-adds'],
    ...rows.map((r) => [
      r.name,
      r.layer,
      r.outputShape.join('×'),
      r.params.toLocaleString('en-US'),
      r.macs.toLocaleString('en-US'),
    ]),
  ];
  table.push(['total', '', '', params.toLocaleString('en-US'), macs.toLocaleString('en-US')]);
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const lines = table.map((r) => r.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  lines.splice(lines.length - 1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const head = `VGG-${config.net}: input ${config.inChannels}×${config.inputSize}×${config.inputSize}, ${config.classes} classes, width ×${config.width}`;
  const macsText = macs >= 1e9 ? `${(macs / 1e9).toFixed(2)} G` : `${(macs / 1e6).toFixed(2)} M`;
  return `${head}\n${lines.join('\n')}\n${(params / 1e6).toFixed(2)} M parameters, ${macsText} multiply-adds per image`;
}
