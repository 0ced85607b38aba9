// Launchers for the register-blocked direct convolution kernels: the forward pass and the input
// gradient (kernels/conv2d_direct.wgsl row tiles, conv2d_plane.wgsl whole planes, both reading the
// weights as rearranged by conv2d_weight_layout.wgsl), and the weight gradient
// (conv2d_grad_weight_rows.wgsl / conv2d_grad_weight_plane.wgsl, bias gradient fused).
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { forEachImageSlice, grid2d, maxChunkElems, vectorWidth } from './launch.js';
import { sumSplits } from './reduce.js';

/**
 * What one invocation computes: TM output channels × BX pixels of BY rows (`row`), or × the whole
 * output plane of BI images (`plane`, for planes of at most 16 pixels).
 */
export type DirectTile =
  | { kind: 'row'; TM: number; BX: number; BY: number }
  | { kind: 'plane'; TM: number; BI: number };

export interface DirectConv {
  label: string;
  /** Input planes [N, C, H, W] (the layer input, or dY for the input gradient). */
  x: Tensor;
  /** Layer weight [Cout, Cin, KS, KS]. */
  weight: Tensor;
  /** false: forward (output channels = Cout); true: input gradient (output channels = Cin, taps flipped). */
  flip: boolean;
  /** Padding of this convolution (KS−1−pad for the input gradient). */
  pad: number;
  /** Output [N, M, Ho, Wo]. */
  y: Tensor;
  bias?: Tensor;
  relu?: boolean;
  tile: DirectTile;
}

/** Whether a tile can run on an input of H×W (the plane kernel loads whole planes as vec4). */
export function directFits(tile: DirectTile, H: number, W: number): boolean {
  return tile.kind === 'row' || (H * W <= 16 && (H * W) % 4 === 0);
}

export function launchDirectConv(d: DirectConv): void {
  const rt = engine().rt;
  const [N, C, H, W] = d.x.shape;
  const [, Cin, KS] = d.weight.shape;
  const [, M, Ho, Wo] = d.y.shape;
  const tile = d.tile;
  const TM = tile.TM;
  const KK = KS * KS;
  if (!directFits(tile, H, W))
    throw new OpError('conv2d', `tile ${JSON.stringify(tile)} does not fit a ${H}×${W} input`);
  // Output-channel ranges whose rearranged weights fit one binding.
  const mPer = Math.floor(maxChunkElems() / (C * KK * TM)) * TM;
  if (mPer < TM)
    throw new OpError('conv2d', `${TM} output channels' weights (${C * KK * TM} floats) exceed a storage binding`, {
      weight: d.weight.shape,
    });
  for (let m0 = 0; m0 < M; m0 += mPer) {
    const count = Math.min(mPer, M - m0);
    const Mp = Math.ceil(count / TM) * TM;
    const wt = Tensor.empty([C * KK * Mp], 'conv2d rearranged weights');
    const total = C * KK * Mp;
    // Forward: W rows m0.. hold this range. Input gradient: every W row holds a piece of it, so
    // the rows go in binding-sized runs.
    const rowsPer = Math.min(
      d.flip ? Math.max(1, Math.floor(maxChunkElems() / (Cin * KK))) : C,
      Math.floor(rt.maxWorkgroupsPerDim / KK),
    );
    for (let c0 = 0; c0 < C; c0 += rowsPer) {
      const rows = Math.min(rowsPer, C - c0);
      const src = d.flip
        ? rt.range(d.weight.buffer, c0 * Cin * KK, rows * Cin * KK)
        : rt.range(d.weight.buffer, m0 * Cin * KK, count * Cin * KK);
      const dst = rt.range(wt.buffer, c0 * KK * Mp, rows * KK * Mp);
      rt.dispatch({
        kernel: 'conv2d_weight_layout',
        constants: { KS, FLIP: d.flip },
        uniforms: {
          Cin,
          Mp,
          count,
          mOff: d.flip ? m0 : 0,
          cOff: d.flip ? 0 : c0,
          wOff: src.elemOffset,
          dOff4: dst.elemOffset / 4,
        },
        buffers: [src, dst],
        workgroups: [Math.ceil(Mp / 4 / 64), rows * KK],
        label: `${d.label}: weight layout`,
      });
    }
    forEachImageSlice('conv2d', N, [C * H * W, M * Ho * Wo], (n0, n) => {
      const xr = rt.range(d.x.buffer, n0 * C * H * W, n * C * H * W);
      const yr = rt.range(d.y.buffer, n0 * M * Ho * Wo, n * M * Ho * Wo);
      const wr = rt.range(wt.buffer, 0, total);
      const br = d.bias ? rt.range(d.bias.buffer, m0, count) : rt.unused;
      const common = { KS, PAD: d.pad, TM, HAS_BIAS: !!d.bias, RELU: !!d.relu };
      if (tile.kind === 'row') {
        const blocksX = Math.ceil(Wo / tile.BX);
        const BY = tile.BY;
        const rowBlocks = Math.ceil(Ho / BY);
        const blocks = n * rowBlocks * blocksX;
        rt.dispatch({
          kernel: 'conv2d_direct',
          constants: { ...common, BX: tile.BX, BY, ...vectorFlags('VEC_X', vectorWidth(tile.BX, W)) },
          uniforms: {
            M: count,
            C,
            H,
            W,
            Ho,
            Wo,
            blocksX,
            rowBlocks,
            blocks,
            mBlocks: Mp / TM,
            Mp4: Mp / 4,
            xOff: xr.elemOffset,
            wOff4: wr.elemOffset / 4,
            bOff: br.elemOffset,
            yOff: yr.elemOffset,
            yChannels: M,
            yChannelOff: m0,
          },
          buffers: [xr, wr, br, yr],
          workgroups: grid2d(Math.ceil((blocks * Mp) / TM / 64)),
          loop: C,
          label: d.label,
        });
      } else {
        const blocks = Math.ceil(n / tile.BI);
        rt.dispatch({
          kernel: 'conv2d_plane',
          constants: { ...common, BI: tile.BI, H, W },
          uniforms: {
            M: count,
            C,
            N: n,
            blocks,
            mBlocks: Mp / TM,
            Mp4: Mp / 4,
            xOff4: xr.elemOffset / 4,
            wOff4: wr.elemOffset / 4,
            bOff: br.elemOffset,
            yOff: yr.elemOffset,
            yChannels: M,
            yChannelOff: m0,
          },
          buffers: [xr, wr, br, yr],
          workgroups: grid2d(Math.ceil((blocks * Mp) / TM / 64)),
          loop: C,
          label: d.label,
        });
      }
    });
    wt.dispose();
  }
}

/** The baked flags for a vector width: `name` (vector loads at all) and VW2 (2 floats, not 4). */
function vectorFlags(name: string, vw: 1 | 2 | 4): Record<string, boolean> {
  return { [name]: vw > 1, VW2: vw === 2 };
}

/**
 * A weight-gradient tile: TM output × TC input channels, all taps, accumulated over segments of S
 * pixels of a row (`rows`) or over whole planes of at most 16 pixels (`plane`).
 */
export type GradWeightTile =
  | { kind: 'rows'; TM: number; TC: number; S: number }
  | { kind: 'plane'; TM: number; TC: number };

/**
 * dW = Σ over images and pixels of dY·X(shifted), register-blocked; the pixels (row segments or
 * images) are split across workgroups (partials, then one summing pass) so it parallelises at any
 * size. With `db`, the bias gradient (Σ dY per channel) comes out of the same pass.
 */
export function launchGradWeight(
  label: string,
  dy: Tensor,
  x: Tensor,
  dw: Tensor,
  db: Tensor | null,
  pad: number,
  tile: GradWeightTile,
): void {
  const rt = engine().rt;
  const [N, Cin, H, W] = x.shape;
  const [, Cout, Ho, Wo] = dy.shape;
  const KS = dw.shape[2];
  const R = Cout * Cin * KS * KS;
  const { TM, TC } = tile;
  if (
    tile.kind === 'plane' &&
    !(directFits({ kind: 'plane', TM, BI: 1 }, H, W) && directFits({ kind: 'plane', TM, BI: 1 }, Ho, Wo))
  ) {
    throw new OpError('conv2d', `tile ${JSON.stringify(tile)} does not fit a ${H}×${W} input`);
  }
  const ciBlocks = Math.ceil(Cin / TC);
  const items = Math.ceil(Cout / TM) * ciBlocks;
  const segsX = tile.kind === 'rows' ? Math.ceil(Wo / tile.S) : 1;
  const unitsPerImage = tile.kind === 'rows' ? Ho * segsX : 1; // what the splits share out
  // Partials within a binding; an invocation loops once per unit of its chunk, so slices hold
  // at most the images that `fit` chunks within the adapter's loop limit cover.
  const fit = Math.max(1, Math.floor(maxChunkElems() / R) - 1);
  const maxImages = Math.floor((fit * engine().rt.loopLimit) / unitsPerImage);
  if (maxImages < 1)
    throw new OpError(
      'conv2d backward',
      `one image's ${unitsPerImage} row segments are more than ${fit} split(s) can loop over on this adapter; use another variant`,
      { x: x.shape },
    );
  forEachImageSlice(
    'conv2d backward',
    N,
    [Cin * H * W, Cout * Ho * Wo],
    (n0, n) => {
      const units = n * unitsPerImage;
      // Enough splits to keep the adapter busy, each a few units long and within the loop limit.
      const want = Math.ceil((rt.targetWorkgroups * 64) / items);
      const splits = Math.min(
        fit,
        Math.max(1, Math.min(want, Math.floor(units / 4), 256), Math.ceil(units / rt.loopLimit)),
      );
      const chunk = Math.ceil(units / splits);
      const used = Math.ceil(units / chunk);
      const part = used > 1 ? Tensor.empty([used, R], 'conv2d dW partials') : dw;
      const bpart = db && used > 1 ? Tensor.empty([used, Cout], 'conv2d dB partials') : db;
      const dyr = rt.range(dy.buffer, n0 * Cout * Ho * Wo, n * Cout * Ho * Wo);
      const xr = rt.range(x.buffer, n0 * Cin * H * W, n * Cin * H * W);
      const outr = rt.range(part.buffer, 0, part.size);
      const boutr = bpart ? rt.range(bpart.buffer, 0, bpart.size) : rt.unused;
      const common = { KS, PAD: pad, TM, TC, HAS_BIAS: !!db, ACCUMULATE: used === 1 && n0 > 0 };
      const workgroups = grid2d(Math.ceil((items * used) / 64));
      if (tile.kind === 'rows') {
        rt.dispatch({
          kernel: 'conv2d_grad_weight_rows',
          constants: { ...common, S: tile.S, ...vectorFlags('VEC', vectorWidth(tile.S, Wo, W)) },
          uniforms: {
            Cout,
            Cin,
            H,
            W,
            Ho,
            Wo,
            segsX,
            segs: units,
            segChunk: chunk,
            items,
            splits: used,
            ciBlocks,
            dyOff: dyr.elemOffset,
            xOff: xr.elemOffset,
            outOff: outr.elemOffset,
            bOutOff: boutr.elemOffset,
          },
          buffers: [dyr, xr, outr, boutr],
          workgroups,
          loop: chunk,
          label,
        });
      } else {
        rt.dispatch({
          kernel: 'conv2d_grad_weight_plane',
          constants: { ...common, H, W },
          uniforms: {
            Cout,
            Cin,
            N: n,
            imgChunk: chunk,
            items,
            splits: used,
            ciBlocks,
            dyOff4: dyr.elemOffset / 4,
            xOff4: xr.elemOffset / 4,
            outOff: outr.elemOffset,
            bOutOff: boutr.elemOffset,
          },
          buffers: [dyr, xr, outr, boutr],
          workgroups,
          loop: chunk,
          label,
        });
      }
      if (part !== dw) {
        sumSplits(part, used, R, dw, 0, n0 > 0, `${label}: split sum`);
        part.dispose();
      }
      if (db && bpart !== db) {
        sumSplits(bpart!, used, Cout, db, 0, n0 > 0, `${label}: bias split sum`);
        bpart!.dispose();
      }
    },
    maxImages,
  );
}
