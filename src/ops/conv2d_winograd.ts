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
import { type GemmBody, launchGemm, maxKChunk } from './gemm.js';
import { forEachImageSlice, gridFor, maxChunkElems } from './launch.js';

/** Output tile side m of F(m×m, 3×3). */
export type WinogradTile = 2 | 4;

/** Most bytes of transformed input and product one slice of images holds (slices bound the workspace). */
export const WINOGRAD_WORKSPACE_BYTES = 512 << 20;

/** Floats of transformed input (V) and products (Mt) per image, for C input and M output channels. */
export function winogradWorkspace(m: WinogradTile, C: number, M: number, H: number, W: number) {
  const a2 = (m + 2) ** 2;
  const tiles = Math.ceil(H / m) * Math.ceil(W / m);
  return { v: a2 * C * tiles, mt: a2 * M * tiles };
}

/**
 * Whether F(m×m) on `body` runs a 3×3, padding-1 layer from C to M channels on H×W planes: one
 * invocation's loop covers C, and the transformed filters and one image's workspace each fit a binding.
 */
export function winogradFits(m: WinogradTile, body: GemmBody, C: number, M: number, H: number, W: number): boolean {
  const { v, mt } = winogradWorkspace(m, C, M, H, W);
  const max = maxChunkElems();
  return body.applies() && C <= maxKChunk(body) && (m + 2) ** 2 * C * M <= max && v <= max && mt <= max;
}

/** Bytes of workspace a pass over `images` images holds at most (the preflight counts it). */
export function winogradWorkspaceBytes(m: WinogradTile, C: number, M: number, H: number, W: number, images: number) {
  const { v, mt } = winogradWorkspace(m, C, M, H, W);
  const perImage = (v + mt) * 4;
  return perImage * Math.min(images, Math.max(1, Math.floor(WINOGRAD_WORKSPACE_BYTES / perImage)));
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

export function launchWinograd(d: WinogradConv, m: WinogradTile, body: GemmBody): void {
  const rt = engine().rt;
  const [N, C, H, W] = d.x.shape;
  const M = d.y.shape[1];
  const A2 = (m + 2) ** 2;
  const [tilesX, tilesY] = [Math.ceil(W / m), Math.ceil(H / m)];
  const constants = { F4: m === 4, FLIP: d.flip, HAS_BIAS: !!d.bias, RELU: !!d.relu };
  const base = { M, C, H, W, tilesX, tilesY, P: 0, wOff: 0, uOff: 0, xOff: 0, vOff: 0, mOff: 0, yOff: 0, bOff: 0 };
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
  const { v, mt } = winogradWorkspace(m, C, M, H, W);
  const workspaceImages = Math.max(1, Math.floor(WINOGRAD_WORKSPACE_BYTES / ((v + mt) * 4)));
  forEachImageSlice(
    'conv2d',
    N,
    [C * H * W, M * H * W, v, mt],
    (n0, n) => {
      const P = n * tilesX * tilesY;
      const vt = Tensor.empty([A2 * C * P], 'winograd inputs');
      const mtt = Tensor.empty([A2 * M * P], 'winograd products');
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
        uniforms: { ...base, P, xOff: xr.elemOffset, vOff: vr.elemOffset },
        buffers: [xr, vr],
        workgroups: gridFor(C * P),
        label: `${d.label} (input transform)`,
      });
      launchGemm({
        kernel: 'winograd_gemm',
        body,
        label: `${d.label} (${A2} products)`,
        M,
        N: P,
        K: A2 * C,
        splits: A2,
        uniforms: { uOff: ur.elemOffset, vOff: vr.elemOffset, mOff: mr.elemOffset },
        buffers: [ur, vr, mr],
        constants: {},
      });
      rt.dispatch({
        kernel: 'conv2d_winograd',
        entry: 'outputs',
        constants,
        uniforms: { ...base, P, mOff: mr.elemOffset, yOff: yr.elemOffset, bOff: br.elemOffset },
        buffers: [mr, br, yr],
        workgroups: gridFor(M * P),
        label: `${d.label} (output transform)`,
      });
      vt.dispose();
      mtt.dispose();
    },
    workspaceImages,
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
