// The variants of the three convolution passes: which apply to a layer shape (the default first)
// and what each name means. Names: `row-TMxBX[xBY]` / `plane-TMxBI` (direct forward and input
// gradient: TM channels × BX pixels × BY rows, or × whole planes of BI images), `rows-TMxTCxS` /
// `plane-TMxTC` (weight gradient), `gemm` / `gemm-shared` (implicit GEMM on the register-tiled or
// workgroup-memory body).
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { type DirectTile, directFits, type GradWeightTile } from './conv2d_direct.js';
import { sharedGemmFits } from './gemm.js';
import { maxChunkElems } from './launch.js';
import type { Pass } from './variants.js';

/** The three convolution passes. */
export type ConvPass = Extract<Pass, 'conv_forward' | 'conv_grad_input' | 'conv_grad_weight'>;

/** A layer's shape key and the variants of one pass that apply to it (the default first). */
export function convVariants(pass: ConvPass, xShape: readonly number[], wShape: readonly number[], pad: number): { shape: string; candidates: string[] } {
  const [, C, H, W] = xShape;
  const [Cout, , KS] = wShape;
  const Ho = H + 2 * pad - KS + 1;
  const Wo = W + 2 * pad - KS + 1;
  // The shape class leaves out the batch size: a choice made at one batch serves the others.
  const shape = `${C}x${H}x${W} k${KS} p${pad} -> ${Cout}`;
  const cpu = engine().rt.adapter.isCpu;
  let direct: string[];
  if (pass === 'conv_grad_weight') {
    // An invocation's TM×TC channel block holds a sum per tap: at most 288 of them (more take long
    // to compile and spill).
    const sumsFit = (block: string) => block.split('x').reduce((p, n) => p * +n, KS * KS) <= 288;
    if (KS === 1) {
      // One tap: block more channels so each load feeds enough FMAs.
      const S = Math.min(4, Wo);
      direct = [`rows-16x8x${S}`, `rows-8x8x${S}`];
    } else {
      // The two largest channel blocks within the register budget (16×2 and 8×2 for 3×3).
      const [big, small] = ['16x2', '8x2', '8x1', '4x1', '2x1', '1x1'].filter(sumsFit);
      const [S, S2] = rowSizes(Wo, W, 8, 2);
      direct = !big ? [] : [`rows-${big}x${S}`, ...(small ? [`rows-${small}x${S}`] : []), ...(S2 ? [`rows-${big}x${S2}`] : [])];
    }
    const plane = { kind: 'plane', TM: 4, BI: 1 } as const;
    if (directFits(plane, H, W) && directFits(plane, Ho, Wo)) direct.unshift(...(KS === 1 ? ['8x8'] : ['8x4', '8x2', '2x2'].filter(sumsFit)).map((b) => `plane-${b}`));
  } else {
    // The input gradient slides over dY (Ho×Wo) and produces H×W.
    const [inH, inW, outW] = pass === 'conv_forward' ? [H, W, Wo] : [Ho, Wo, W];
    const plane = directFits({ kind: 'plane', TM: 8, BI: 1 }, inH, inW) ? ['plane-8x1', 'plane-4x4', 'plane-16x2'] : [];
    // Blocks of 4 rows (each input row loaded once for up to 3 output rows) or of one row. (Not for
    // large kernels: their unrolled 4-row blocks take seconds to compile, and the GEMM suits them.)
    const blocks4 = KS <= 3 ? [...new Set([8, ...rowSizes(outW, inW, 8, 1)])].map((bx) => `row-8x${bx}x4`) : [];
    const rows = rowSizes(outW, inW, 16, 2).map((bx) => `row-8x${bx}`);
    // A block of TM output channels' rearranged weights must fit one binding.
    const inC = pass === 'conv_forward' ? C : Cout;
    direct = [...plane, ...blocks4, ...rows].filter((v) => directTile(v).TM * inC * KS * KS <= maxChunkElems());
  }
  // Large kernels (7×7 FC layers in dense evaluation) suit the implicit GEMM better. Its input
  // gradient binds the whole weight at once.
  let gemm = pass === 'conv_grad_input' && Cout * C * KS * KS > maxChunkElems() ? [] : ['gemm'];
  if (gemm.length && sharedGemmFits()) gemm = cpu ? ['gemm', 'gemm-shared'] : ['gemm-shared', 'gemm'];
  const candidates = cpu && KS <= 3 ? [...direct, ...gemm] : [...gemm, ...direct];
  return { shape, candidates };
}

/**
 * The `count` pixel-block widths (at most `max`) worth trying for rows of `outW` pixels: least
 * waste first, then vec4-able, then wider.
 */
function rowSizes(outW: number, inW: number, max: number, count: number): number[] {
  // VGG's 224-pixel widths are multiples of 7 (…, 28, 14): blocks of 14 or 7 leave no waste.
  const ofSeven = outW % 14 === 0 && max >= 14 ? 14 : 7;
  const sizes = [...new Set([max, 8, Math.min(outW, 8), outW % 7 === 0 ? ofSeven : 8])];
  const waste = (b: number) => Math.ceil(outW / b) * b - outW;
  const vec = (b: number) => (b % 4 === 0 && inW % 4 === 0 ? 0 : 1);
  return sizes.sort((a, b) => waste(a) - waste(b) || vec(a) - vec(b) || b - a).slice(0, count);
}

export function directTile(variant: string): DirectTile {
  const m = /^(row|plane)-(\d+)x(\d+)(?:x(\d+))?$/.exec(variant);
  if (!m || (m[1] === 'plane' && m[4] !== undefined)) throw new OpError('conv2d', `unknown variant "${variant}"`);
  return m[1] === 'row' ? { kind: 'row', TM: +m[2], BX: +m[3], BY: +(m[4] ?? 1) } : { kind: 'plane', TM: +m[2], BI: +m[3] };
}

export function gradWeightTile(variant: string): GradWeightTile {
  const m = /^(rows|plane)-(\d+)x(\d+)(?:x(\d+))?$/.exec(variant);
  if (!m || (m[1] === 'rows') !== (m[4] !== undefined)) throw new OpError('conv2d', `unknown weight-gradient variant "${variant}"`);
  return m[1] === 'rows' ? { kind: 'rows', TM: +m[2], TC: +m[3], S: +m[4] } : { kind: 'plane', TM: +m[2], TC: +m[3] };
}

