// The variants of the three convolution passes: one typed table per pass. Each row says when it
// applies (layer shape and adapter), where it comes in the default order, and launches the pass.
// Names say what one invocation computes, with the same letters in every pass:
//   c — channels of the pass's output (forward: Cout; input gradient: Cin; weight gradient: Cout)
//   k — input channels (weight gradient: its Cin block)
//   p — pixels along a row;  r — rows;  i — images
// `direct-…` slides along rows (kernels/conv2d_direct.wgsl, conv2d_grad_weight_rows.wgsl),
// `plane-…` holds whole planes of at most 16 pixels (conv2d_plane.wgsl, conv2d_grad_weight_plane.wgsl),
// the implicit GEMMs are named by their GEMM body (`gemm-reg`, `gemm-wg`, …: ops/gemm.ts), and
// `winograd2-…` / `winograd4-…` run F(2×2, 3×3) / F(4×4, 3×3) with their products on that body
// (conv2d_winograd.ts; forward and input gradient of 3×3 layers with padding 1).
import { engine } from '../engine.js';
import type { ConvForwardArgs, ConvGradInputArgs, ConvGradWeightArgs, ConvProblem } from './conv2d_args.js';
import { directFits, launchDirectConv, launchGradWeight } from './conv2d_direct.js';
import { gemmConvForward, gemmConvGradInput, gemmConvGradWeight } from './conv2d_gemm.js';
import { GEMM_BODIES, type GemmBody, maxKChunk } from './gemm.js';
import {
  launchWinograd,
  WINOGRAD_PRODUCTS,
  type WinogradProduct,
  type WinogradTile,
  winogradFits,
  winogradTransformFloats,
} from './conv2d_winograd.js';
import { maxChunkElems } from './launch.js';
import { applicable, type Pass, type Variant } from './variants.js';

export type { ConvForwardArgs, ConvGradInputArgs, ConvGradWeightArgs, ConvProblem } from './conv2d_args.js';

/** The three convolution passes. */
export type ConvPass = Extract<Pass, 'conv_forward' | 'conv_grad_input' | 'conv_grad_weight'>;

export type ConvVariant<A> = Variant<ConvProblem, A>;

/** What the rules below look at. */
function geometry(pass: ConvPass, p: ConvProblem) {
  const [, C, H, W] = p.x;
  const [Cout, , KS] = p.w;
  const Ho = H + 2 * p.pad - KS + 1;
  const Wo = W + 2 * p.pad - KS + 1;
  // The input gradient slides over dY (Ho×Wo) and produces H×W.
  const [inH, inW, outW, inC] = pass === 'conv_forward' ? [H, W, Wo, C] : [Ho, Wo, W, Cout];
  return { C, H, W, Cout, KS, Ho, Wo, inH, inW, outW, inC, cpu: engine().rt.adapter.isCpu };
}
type Geometry = ReturnType<typeof geometry>;

/**
 * Default order: on CPU-like adapters the direct kernels first for kernels of 3×3 and smaller (the
 * implicit GEMMs suit large kernels, e.g. 7×7 FC layers in dense evaluation); on GPUs the GEMMs.
 */
function familyBase(g: Geometry, family: 'direct' | 'gemm'): number {
  return (family === 'direct') === (g.cpu && g.KS <= 3) ? 0 : 1000;
}

// Live floats per invocation (Variant.liveFloats), from each kernel's register arrays:
/** conv2d_direct.wgsl: BY×BX×TM sums, BY+KS−1 input rows of BX+KS−1 pixels, KS×KS×TM weights. */
export const directRowFloats = (KS: number, TM: number, BX: number, BY: number) =>
  TM * BX * BY + (BY + KS - 1) * (BX + KS - 1) + KS * KS * TM;
/** conv2d_plane.wgsl: BI output planes × TM sums, BI input planes, KS×KS×TM weights. */
export const planeFloats = (KS: number, TM: number, BI: number, inH: number, inW: number, outPixels: number) =>
  BI * outPixels * TM + BI * inH * inW + KS * KS * TM;
/** conv2d_grad_weight_rows.wgsl: TM×TC×KS² sums, TM bias sums, TM×S of dY, one input row. */
export const gradRowFloats = (KS: number, TM: number, TC: number, S: number) =>
  TM * TC * KS * KS + TM + TM * S + (S + KS - 1);
/** conv2d_grad_weight_plane.wgsl: TM×TC×KS² sums, TM bias sums, TM dY planes, one input plane. */
export const gradPlaneFloats = (KS: number, TM: number, TC: number, inPixels: number, outPixels: number) =>
  TM * TC * KS * KS + TM + TM * outPixels + inPixels;

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

/**
 * Forward and input-gradient rows: direct row tiles (TM = 8 channels × BX pixels × BY rows; blocks of
 * 4 rows load each input row once for up to 3 output rows), whole-plane tiles, and a GEMM per body.
 */
function slidingTable<A>(
  pass: 'conv_forward' | 'conv_grad_input',
  launch: {
    direct: (tile: Parameters<typeof launchDirectConv>[0]['tile'], a: A) => void;
    gemm: (a: A, body: GemmBody) => void;
    winograd: (a: A, m: WinogradTile, product: WinogradProduct) => void;
  },
): Array<ConvVariant<A>> {
  // A block of TM output channels' rearranged weights must fit one binding, and an invocation's
  // loop over the input channels the adapter's loop limit.
  const weightsFit = (g: Geometry, TM: number) =>
    TM * g.inC * g.KS * g.KS <= maxChunkElems() && g.inC <= engine().rt.loopLimit;
  // Blocks of 4 rows only for kernels up to 3×3: larger ones take seconds to compile unrolled.
  const widths4 = (g: Geometry) => (g.KS <= 3 ? [...new Set([8, ...rowSizes(g.outW, g.inW, 8, 1)])] : []);
  const widths1 = (g: Geometry) => rowSizes(g.outW, g.inW, 16, 2);
  const rows = [4, 1].flatMap((BY) =>
    Array.from({ length: 16 }, (_, i): ConvVariant<A> => {
      const BX = i + 1;
      const widths = BY === 4 ? widths4 : widths1;
      return {
        name: `direct-c8p${BX}r${BY}`,
        applies: (p) => {
          const g = geometry(pass, p);
          return widths(g).includes(BX) && weightsFit(g, 8);
        },
        rank: (p) => {
          const g = geometry(pass, p);
          return familyBase(g, 'direct') + (BY === 4 ? 10 : 20) + widths(g).indexOf(BX);
        },
        liveFloats: (p) => directRowFloats(p.w[2], 8, BX, BY),
        launch: (a) => launch.direct({ kind: 'row', TM: 8, BX, BY }, a),
      };
    }),
  );
  const planes = (
    [
      [8, 1],
      [4, 4],
      [16, 2],
    ] as const
  ).map(
    ([TM, BI], k): ConvVariant<A> => ({
      name: `plane-c${TM}i${BI}`,
      applies: (p) => {
        const g = geometry(pass, p);
        return directFits({ kind: 'plane', TM: 8, BI: 1 }, g.inH, g.inW) && weightsFit(g, TM);
      },
      rank: (p) => familyBase(geometry(pass, p), 'direct') + k,
      liveFloats: (p) => {
        const g = geometry(pass, p);
        return planeFloats(g.KS, TM, BI, g.inH, g.inW, g.outW * (pass === 'conv_forward' ? g.Ho : g.H));
      },
      launch: (a) => launch.direct({ kind: 'plane', TM, BI }, a),
    }),
  );
  const gemms = GEMM_BODIES.map(
    (body): ConvVariant<A> => ({
      name: body.name,
      // The input gradient's GEMM binds the whole weight at once; neither pass splits K, so one
      // invocation's loop runs all of it.
      applies: (p) => {
        const g = geometry(pass, p);
        return (
          body.applies() &&
          g.inC * g.KS * g.KS <= maxKChunk(body) &&
          (pass !== 'conv_grad_input' || p.w.reduce((s, d) => s * d, 1) <= maxChunkElems())
        );
      },
      rank: (p) => {
        const g = geometry(pass, p);
        return familyBase(g, 'gemm') + body.rank(g.cpu);
      },
      liveFloats: () => body.liveFloats,
      launch: (a) => launch.gemm(a, body),
    }),
  );
  // After the GEMMs in the default order: the tuner picks them where they win.
  const winograds = ([2, 4] as const).flatMap((m) =>
    WINOGRAD_PRODUCTS.map(
      (product): ConvVariant<A> => ({
        name: `winograd${m}-${product.name}`,
        applies: (p) => {
          const g = geometry(pass, p);
          const outC = pass === 'conv_forward' ? g.Cout : g.C;
          return g.KS === 3 && p.pad === 1 && winogradFits(m, product, g.inC, outC, g.H, g.W);
        },
        rank: (p) => {
          const g = geometry(pass, p);
          return familyBase(g, 'gemm') + 100 + (m === 2 ? 0 : 20) + product.rank(g.cpu);
        },
        liveFloats: () => Math.max(product.liveFloats, winogradTransformFloats(m)),
        launch: (a) => launch.winograd(a, m, product),
      }),
    ),
  );
  return [...planes, ...rows, ...gemms, ...winograds];
}

export const CONV_FORWARD: ReadonlyArray<ConvVariant<ConvForwardArgs>> = slidingTable<ConvForwardArgs>('conv_forward', {
  direct: (tile, a) =>
    launchDirectConv({
      label: `conv2d forward x ${a.x} w ${a.w}`,
      x: a.x,
      weight: a.w,
      flip: false,
      pad: a.pad,
      y: a.y,
      bias: a.b ?? undefined,
      relu: a.relu,
      tile,
    }),
  gemm: gemmConvForward,
  winograd: (a, m, product) =>
    launchWinograd(
      { label: `conv2d forward x ${a.x} w ${a.w}`, x: a.x, weight: a.w, flip: false, y: a.y, bias: a.b, relu: a.relu },
      m,
      product,
    ),
});

export const CONV_GRAD_INPUT: ReadonlyArray<ConvVariant<ConvGradInputArgs>> = slidingTable<ConvGradInputArgs>(
  'conv_grad_input',
  {
    direct: (tile, a) =>
      launchDirectConv({
        label: `conv2d input-gradient dy ${a.dy} w ${a.w}`,
        x: a.dy,
        weight: a.w,
        flip: true,
        pad: a.w.shape[2] - 1 - a.pad,
        y: a.dx,
        tile,
      }),
    gemm: gemmConvGradInput,
    winograd: (a, m, body) =>
      launchWinograd(
        { label: `conv2d input-gradient dy ${a.dy} w ${a.w}`, x: a.dy, weight: a.w, flip: true, y: a.dx },
        m,
        body,
      ),
  },
);

/**
 * Weight-gradient rows: TM output × TC input channels, all taps, over row segments of S pixels
 * (`direct-cTMkTCpS`) or whole planes (`plane-cTMkTC`), the bias gradient fused; or a GEMM per body.
 */
function gradWeightTable(): Array<ConvVariant<ConvGradWeightArgs>> {
  const g = (p: ConvProblem) => geometry('conv_grad_weight', p);
  // An invocation's TM×TC block holds a sum per tap: at most 288 (more take long to compile and spill).
  const sumsFit = (KS: number, TM: number, TC: number) => TM * TC * KS * KS <= 288;
  /** The row tiles worth trying, best first. */
  const rowTiles = (x: Geometry): Array<[number, number, number]> => {
    if (x.KS === 1) {
      // One tap: block more channels so each load feeds enough FMAs.
      const S = Math.min(4, x.Wo);
      return [
        [16, 8, S],
        [8, 8, S],
      ];
    }
    // The two largest channel blocks within the register budget (16×2 and 8×2 for 3×3).
    const [big, small] = (
      [
        [16, 2],
        [8, 2],
        [8, 1],
        [4, 1],
        [2, 1],
        [1, 1],
      ] as const
    ).filter(([TM, TC]) => sumsFit(x.KS, TM, TC));
    const [S, S2] = rowSizes(x.Wo, x.W, 8, 2);
    if (!big) return [];
    return [
      [...big, S],
      ...(small ? [[...small, S] as [number, number, number]] : []),
      ...(S2 ? [[...big, S2] as [number, number, number]] : []),
    ];
  };
  const same = (a: readonly number[], b: readonly number[]) => a.every((v, i) => v === b[i]);
  const rows = [
    [16, 8],
    [8, 8],
    [16, 2],
    [8, 2],
    [8, 1],
    [4, 1],
    [2, 1],
    [1, 1],
  ].flatMap(([TM, TC]) =>
    Array.from({ length: 8 }, (_, i): ConvVariant<ConvGradWeightArgs> => {
      const S = i + 1;
      const at = (p: ConvProblem) => rowTiles(g(p)).findIndex((t) => same(t, [TM, TC, S]));
      return {
        name: `direct-c${TM}k${TC}p${S}`,
        applies: (p) => at(p) >= 0,
        rank: (p) => familyBase(g(p), 'direct') + 10 + at(p),
        liveFloats: (p) => gradRowFloats(p.w[2], TM, TC, S),
        launch: (a) =>
          launchGradWeight(`conv2d weight-gradient dy ${a.dy} x ${a.x}`, a.dy, a.x, a.dw, a.db, a.pad, {
            kind: 'rows',
            TM,
            TC,
            S,
          }),
      };
    }),
  );
  const planeTiles = (x: Geometry): Array<[number, number]> => {
    const plane = { kind: 'plane', TM: 4, BI: 1 } as const;
    if (!(directFits(plane, x.H, x.W) && directFits(plane, x.Ho, x.Wo))) return [];
    return x.KS === 1
      ? [[8, 8]]
      : (
          [
            [8, 4],
            [8, 2],
            [2, 2],
          ] as Array<[number, number]>
        ).filter(([TM, TC]) => sumsFit(x.KS, TM, TC));
  };
  const planes = [
    [8, 8],
    [8, 4],
    [8, 2],
    [2, 2],
  ].map(([TM, TC]): ConvVariant<ConvGradWeightArgs> => {
    const at = (p: ConvProblem) => planeTiles(g(p)).findIndex((t) => same(t, [TM, TC]));
    return {
      name: `plane-c${TM}k${TC}`,
      applies: (p) => at(p) >= 0,
      rank: (p) => familyBase(g(p), 'direct') + at(p),
      liveFloats: (p) => {
        const x = g(p);
        return gradPlaneFloats(x.KS, TM, TC, x.H * x.W, x.Ho * x.Wo);
      },
      launch: (a) =>
        launchGradWeight(`conv2d weight-gradient dy ${a.dy} x ${a.x}`, a.dy, a.x, a.dw, a.db, a.pad, {
          kind: 'plane',
          TM,
          TC,
        }),
    };
  });
  const gemms = GEMM_BODIES.map(
    (body): ConvVariant<ConvGradWeightArgs> => ({
      name: body.name,
      applies: () => body.applies(),
      rank: (p) => familyBase(g(p), 'gemm') + body.rank(g(p).cpu),
      liveFloats: () => body.liveFloats,
      launch: (a) => gemmConvGradWeight(a, body),
    }),
  );
  return [...planes, ...rows, ...gemms];
}

export const CONV_GRAD_WEIGHT: ReadonlyArray<ConvVariant<ConvGradWeightArgs>> = gradWeightTable();

/** Each pass's table. */
export const CONV_TABLES = {
  conv_forward: CONV_FORWARD,
  conv_grad_input: CONV_GRAD_INPUT,
  conv_grad_weight: CONV_GRAD_WEIGHT,
} as const;

/**
 * A layer's shape key: the layer without the batch size — a choice made at one batch serves the
 * others (the kernels tile pixels and channels, which every batch has).
 */
export function convKey(x: readonly number[], w: readonly number[], pad: number): string {
  return `${x[1]}x${x[2]}x${x[3]} k${w[2]} p${pad} -> ${w[0]}`;
}

/** A layer's shape key and the names of the variants of one pass that apply to it (the default first). */
export function convVariants(
  pass: ConvPass,
  x: readonly number[],
  w: readonly number[],
  pad: number,
): { shape: string; candidates: string[] } {
  const table: ReadonlyArray<ConvVariant<never>> = CONV_TABLES[pass];
  return { shape: convKey(x, w, pad), candidates: applicable(table, { x, w, pad }).map((v) => v.name) };
}
