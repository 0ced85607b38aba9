// Winograd convolution F(2×2, 3×3) and F(4×4, 3×3) for 3×3 layers with padding 1 — the forward
// pass, and the input gradient (a 3×3 convolution of dY with the flipped, transposed weights):
// filter and input-tile transforms, a batched GEMM over the ALPHA² transformed positions on any
// GEMM body, and the output transform (kernels/conv2d_winograd.wgsl, winograd_gemm.wgsl).
// F(m×m, 3×3) does ALPHA²/m² multiplications per output against direct convolution's 9:
// 2.25× fewer for m = 2, 4× for m = 4, for ALPHA²/m² times the input and output in workspace.
//
// The weight gradient stays on the other variants: through Winograd it needs dY's tiles
// transformed as filters, and VGG's small late planes (14², 28²) give few tiles to amortise that
// over; the forward and input-gradient passes are two thirds of a step's convolution work.
// The filter transform runs once per call (once per step and pass in training): both passes'
// transforms differ, and a cache keyed by the weight buffer could not see in-place writes (SGD,
// checkpoint loads, broadcasts), so it would risk stale results to save a pass of ~ALPHA²·Cin·Cout floats.
import { engine } from '../engine.js';
import { Tensor } from '../tensor.js';
import { GEMM_BODIES, launchGemm, maxKChunk } from './gemm.js';
import { forEachImageSlice, gridFor, maxChunkElems } from './launch.js';
import { launchVec4, vec4LiveFloats } from './matmul.js';

/** Live floats of the transform kernels: a patch and its half-transformed copy. */
export const winogradTransformFloats = (m: WinogradTile) => 2 * (m + 2) ** 2;

/** Output tile side m of F(m×m, 3×3). */
export type WinogradTile = 2 | 4;

/** Most bytes of transformed input and product one slice of images holds (slices bound the workspace). */
export const WINOGRAD_WORKSPACE_BYTES = 512 << 20;

/**
 * Floats of transformed input (v) and products (mt) per image, for C input and M output channels,
 * and the images one slice takes within WINOGRAD_WORKSPACE_BYTES (at least one).
 */
export function winogradWorkspace(m: WinogradTile, C: number, M: number, H: number, W: number) {
  const a2 = (m + 2) ** 2;
  const tiles = Math.ceil(H / m) * Math.ceil(W / m);
  const [v, mt] = [a2 * C * tiles, a2 * M * tiles];
  return { v, mt, sliceImages: Math.max(1, Math.floor(WINOGRAD_WORKSPACE_BYTES / ((v + mt) * 4))) };
}

/** Tensors of one slice's batched product Mt[ξ] = U[·, ξ, ·]·V[ξ] (rows of V and Mt PS long). */
export interface WinogradGemm {
  label: string;
  u: Tensor;
  v: Tensor;
  mt: Tensor;
  M: number;
  C: number;
  PS: number;
  A2: number;
}

/** What runs the batched product: a GEMM body (winograd_gemm.wgsl hooks) or a vec4 matmul kernel. */
export interface WinogradProduct {
  name: string;
  /** Whether it runs products reducing over C channels on this adapter. */
  applies(C: number): boolean;
  rank(cpu: boolean): number;
  liveFloats: number;
  launch(g: WinogradGemm): void;
}

export const WINOGRAD_PRODUCTS: readonly WinogradProduct[] = [
  // kernels/matmul_vec4.wgsl with its split-K partials kept apart: 16-byte loads (CPU adapters' best).
  ...(
    [
      [8, 8],
      [16, 16],
    ] as const
  ).map(
    ([TM, TN], k): WinogradProduct => ({
      name: `vec4-m${TM}n${TN}`,
      applies: (C) => C % 4 === 0 && C / 4 <= engine().rt.loopLimit,
      rank: (cpu) => (cpu ? k : 10 + k),
      liveFloats: vec4LiveFloats(TM, TN),
      launch: (g) =>
        launchVec4(
          {
            M: g.M,
            N: g.PS,
            K: g.A2 * g.C,
            a: { t: g.u, start: 0, count: g.u.size, s0: g.A2 * g.C, s1: 1 },
            b: { t: g.v, start: 0, count: g.v.size, s0: g.PS, s1: 1 },
            c: { t: g.mt, start: 0, count: g.mt.size, s0: g.PS, s1: 1 },
            label: g.label,
          },
          TM,
          TN,
          false,
          { count: g.A2, cSplit: g.M * g.PS },
        ),
    }),
  ),
  ...GEMM_BODIES.map(
    (body): WinogradProduct => ({
      name: body.name,
      applies: (C) => body.applies() && C <= maxKChunk(body),
      rank: (cpu) => 2 + body.rank(cpu),
      liveFloats: body.liveFloats,
      launch: (g) => {
        const rt = engine().rt;
        const [ur, vr, mr] = [g.u, g.v, g.mt].map((t) => rt.range(t.buffer, 0, t.size));
        launchGemm({
          kernel: 'winograd_gemm',
          body,
          label: g.label,
          M: g.M,
          N: g.PS,
          K: g.A2 * g.C,
          splits: g.A2,
          uniforms: { uOff: ur.elemOffset, vOff: vr.elemOffset, mOff: mr.elemOffset },
          buffers: [ur, vr, mr],
          constants: {},
        });
      },
    }),
  ),
];

/**
 * Whether F(m×m) on `body` runs a 3×3, padding-1 layer from C to M channels on H×W planes: one
 * invocation's loop covers C, and the transformed filters and one image's workspace each fit a binding.
 */
export function winogradFits(
  m: WinogradTile,
  product: WinogradProduct,
  C: number,
  M: number,
  H: number,
  W: number,
): boolean {
  const { v, mt } = winogradWorkspace(m, C, M, H, W);
  const max = maxChunkElems();
  // Rows are rounded up to 4 tiles: leave room for that in the binding.
  const room = (n: number) => n + (m + 2) ** 2 * Math.max(C, M) * 4 <= max;
  // One grid layer per transformed position.
  const layers = (m + 2) ** 2 <= engine().rt.maxWorkgroupsPerDim;
  return layers && product.applies(C) && (m + 2) ** 2 * C * M <= max && room(v) && room(mt);
}

/** Bytes of workspace a pass over `images` images holds at most (the preflight counts it). */
export function winogradWorkspaceBytes(m: WinogradTile, C: number, M: number, H: number, W: number, images: number) {
  const { v, mt, sliceImages } = winogradWorkspace(m, C, M, H, W);
  return (v + mt) * 4 * Math.min(images, sliceImages);
}

export interface WinogradConv {
  label: string;
  /** Input planes [N, C, H, W]: the layer input, or dY for the input gradient. */
  x: Tensor;
  /** Layer weight [Cout, Cin, 3, 3]. */
  weight: Tensor;
  /** false: forward (M = Cout); true: input gradient (M = Cin, filters flipped and transposed). */
  flip: boolean;
  /** Output [N, M, H, W]. */
  y: Tensor;
  bias?: Tensor | null;
  relu?: boolean;
}

export function launchWinograd(d: WinogradConv, m: WinogradTile, product: WinogradProduct): void {
  const rt = engine().rt;
  const [N, C, H, W] = d.x.shape;
  const M = d.y.shape[1];
  const A2 = (m + 2) ** 2;
  const [tilesX, tilesY] = [Math.ceil(W / m), Math.ceil(H / m)];
  const constants = { F4: m === 4, FLIP: d.flip, HAS_BIAS: !!d.bias, RELU: !!d.relu };
  const base = {
    M,
    C,
    H,
    W,
    tilesX,
    tilesY,
    P: 0,
    PS: 0,
    wOff: 0,
    uOff: 0,
    xOff: 0,
    vOff: 0,
    mOff: 0,
    yOff: 0,
    bOff: 0,
  };
  const u = Tensor.empty([M, A2, C], 'winograd filters');
  const ur = rt.range(u.buffer, 0, u.size);
  const wr = rt.range(d.weight.buffer, 0, d.weight.size);
  rt.dispatch({
    kernel: 'conv2d_winograd',
    entry: 'weights',
    constants,
    uniforms: { ...base, wOff: wr.elemOffset, uOff: ur.elemOffset },
    buffers: [wr, ur],
    workgroups: gridFor(M * C),
    label: `${d.label} (filter transform)`,
  });
  const { v, mt, sliceImages } = winogradWorkspace(m, C, M, H, W);
  forEachImageSlice(
    'conv2d',
    N,
    [C * H * W, M * H * W, v, mt],
    (n0, n) => {
      const P = n * tilesX * tilesY;
      const PS = Math.ceil(P / 4) * 4;
      const vt = Tensor.empty([A2 * C * PS], 'winograd inputs');
      const mtt = Tensor.empty([A2 * M * PS], 'winograd products');
      const [xr, vr, mr] = [
        rt.range(d.x.buffer, n0 * C * H * W, n * C * H * W),
        rt.range(vt.buffer, 0, vt.size),
        rt.range(mtt.buffer, 0, mtt.size),
      ];
      const yr = rt.range(d.y.buffer, n0 * M * H * W, n * M * H * W);
      const br = d.bias ? rt.range(d.bias.buffer, 0, M) : rt.unused;
      rt.dispatch({
        kernel: 'conv2d_winograd',
        entry: 'inputs',
        constants,
        uniforms: { ...base, P, PS, xOff: xr.elemOffset, vOff: vr.elemOffset },
        buffers: [xr, vr],
        workgroups: gridFor(C * P),
        label: `${d.label} (input transform)`,
      });
      product.launch({ label: `${d.label} (${A2} products)`, u, v: vt, mt: mtt, M, C, PS, A2 });
      rt.dispatch({
        kernel: 'conv2d_winograd',
        entry: 'outputs',
        constants,
        uniforms: { ...base, P, PS, mOff: mr.elemOffset, yOff: yr.elemOffset, bOff: br.elemOffset },
        buffers: [mr, br, yr],
        workgroups: gridFor(M * P),
        label: `${d.label} (output transform)`,
      });
      vt.dispose();
      mtt.dispose();
    },
    sliceImages,
  );
  u.dispose();
}

/**
 * How much looser than direct convolution's a variant's float32 error is allowed to be: F(4×4)'s
 * transforms scale values by up to 8 (and 1/24) before the sums and back, measured at 5–10× the
 * error of the direct and GEMM variants on the same layers (float64 reference; docs/speed.md);
 * F(2×2)'s error is the direct one's.
 */
export function convErrorScale(variant: string): number {
  return variant.startsWith('winograd4-') ? 10 : 1;
}
