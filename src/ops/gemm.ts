// The GEMM bodies that matmul and the three implicit-GEMM convolution passes share, and their
// launcher. A kernel of hooks (kernels/matmul.wgsl, conv2d_forward.wgsl, …: loads and stores)
// gets a body composed in at its `//#body` line: the register-tiled body (CPU-like adapters) or
// the workgroup-memory one (GPUs). A new body is a WGSL file and a row in GEMM_BODIES; every
// GEMM-based pass then offers it as a variant of the same name.
import { engine } from '../engine.js';
import type { BufferRange, Uniforms } from '../gpu/runtime.js';
import type { BakedConstants, KernelFile } from '../gpu/kernels.js';

export interface GemmTile {
  TM: number;
  TN: number;
  WG_X: number;
  WG_Y: number;
  /** Workgroup-memory body: 64×64 per 16×16 workgroup (TM/TN then only size per-column state). */
  shared?: boolean;
}

/** A GEMM body: its variant name, its WGSL file, where it runs and how it tiles an M×N output. */
export interface GemmBody {
  /** The variant name in every GEMM-based pass, e.g. `gemm-reg`. */
  name: string;
  file: KernelFile;
  /** Whether this adapter can run it. */
  applies(): boolean;
  /** Its place in a pass's default order (lower first) on a CPU-like adapter or a GPU. */
  rank(cpu: boolean): number;
  tile(M: number, N: number): GemmTile;
  /** Loop iterations one invocation runs for a K chunk this long (Dispatch.loop). */
  loopIterations(kChunk: number): number;
}

/** The workgroup-memory tile. */
export const SHARED_TILE: GemmTile = { TM: 4, TN: 4, WG_X: 16, WG_Y: 16, shared: true };

/** Whether the adapter runs the workgroup-memory body (256 invocations, 8 KiB of workgroup memory). */
export function sharedGemmFits(): boolean {
  const l = engine().rt.limits;
  return (
    l.maxComputeInvocationsPerWorkgroup >= 256 &&
    l.maxComputeWorkgroupSizeX >= 16 &&
    l.maxComputeWorkgroupSizeY >= 16 &&
    l.maxComputeWorkgroupStorageSize >= 8192
  );
}

/** The GEMM bodies, one row each. */
export const GEMM_BODIES: readonly GemmBody[] = [
  // Register tiles: what CPU adapters' compilers keep in registers; everywhere.
  {
    name: 'gemm-reg',
    file: 'gemm_body',
    applies: () => true,
    rank: (cpu) => (cpu ? 0 : 1),
    tile: chooseTile,
    loopIterations: (k) => k,
  },
  // Tiles staged in workgroup memory: GPUs. A step of 16 along k runs the staging loop (4) and
  // the loop over the 16 (llvmpipe keeps both as loops; measured ~18–19 iterations per step).
  {
    name: 'gemm-wg',
    file: 'gemm_shared_body',
    applies: sharedGemmFits,
    rank: (cpu) => (cpu ? 1 : 0),
    tile: () => SHARED_TILE,
    loopIterations: (k) => Math.ceil(k / 16) * 21,
  },
];

/** The longest K one invocation of `body` may reduce over within the adapter's loop limit. */
export function maxKChunk(body: GemmBody): number {
  const limit = engine().rt.loopLimit;
  if (limit === Infinity) return Infinity;
  // The largest k whose loop fits (loopIterations grows with k, at least 1 per 16).
  let [lo, hi] = [1, limit * 16];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (body.loopIterations(mid) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const WG_INVOCATIONS = 64;

/** Register tile per invocation and workgroup shape for an M×N output. */
export function chooseTile(M: number, N: number): GemmTile {
  const TM = M >= 8 ? 8 : M >= 4 ? 4 : M >= 2 ? 2 : 1;
  const TN = N >= 8 ? 8 : 4;
  return { TM, TN, ...workgroupShape(M, TM) };
}

/**
 * A 64-invocation workgroup no taller than M rows of TM needs: short outputs (FC layers at small
 * batch) spread it along n instead of leaving invocations idle.
 */
export function workgroupShape(M: number, TM: number): { WG_X: number; WG_Y: number } {
  let WG_Y = 1;
  while (WG_Y < 8 && WG_Y * TM < M) WG_Y *= 2;
  return { WG_X: WG_INVOCATIONS / WG_Y, WG_Y };
}

export interface GemmLaunch {
  /** The kernel of hooks. */
  kernel: KernelFile;
  body: GemmBody;
  label: string;
  M: number;
  N: number;
  K: number;
  /** Split K over this many workgroup layers (the kernel must write partials per split). */
  splits?: number;
  /** The kernel's uniforms besides M, N, K and kChunk (which this launcher sets). */
  uniforms: Uniforms;
  buffers: BufferRange[];
  constants: BakedConstants;
}

/**
 * How many K-splits keep the adapter busy for an M×N output with a K-long reduction, and at least
 * enough that no invocation's loop passes the adapter's limit.
 */
export function chooseSplits(M: number, N: number, K: number, body: GemmBody): number {
  const [tilesN, tilesM] = gemmTiles(M, N, body.tile(M, N));
  const want = Math.ceil(engine().rt.targetWorkgroups / (tilesN * tilesM));
  return Math.max(1, Math.min(want, Math.floor(K / 256), 64), Math.ceil(K / maxKChunk(body)));
}

/** Output tiles along n and m. */
function gemmTiles(M: number, N: number, t: GemmTile): [number, number] {
  if (t.shared) return [Math.ceil(N / 64), Math.ceil(M / 64)];
  return [Math.ceil(N / (t.TN * t.WG_X)), Math.ceil(M / (t.TM * t.WG_Y))];
}

/**
 * The grid for tilesN × tilesM output tiles (× z): tiles along n that one dimension cannot hold
 * are folded into y (kernels/gemm_grid.wgsl unfolds them). A 224² layer at batch 256 has 200,704
 * tiles of 64 pixels; a grid dimension holds 65,535.
 */
export function gemmGrid(tilesN: number, tilesM: number, z: number): [number, number, number] {
  const fold = Math.ceil(tilesN / engine().rt.maxWorkgroupsPerDim);
  return [Math.ceil(tilesN / fold), tilesM * fold, z];
}

/** Launches one GEMM; returns how many K-splits it used. */
export function launchGemm(g: GemmLaunch): number {
  const tile = g.body.tile(g.M, g.N);
  const splits = g.splits ?? 1;
  const kChunk = Math.ceil(g.K / splits);
  const [tilesN, tilesM] = gemmTiles(g.M, g.N, tile);
  engine().rt.dispatch({
    kernel: g.kernel,
    body: g.body.file,
    constants: { ...g.constants, TM: tile.TM, TN: tile.TN, WG_X: tile.WG_X, WG_Y: tile.WG_Y },
    uniforms: { M: g.M, N: g.N, K: g.K, kChunk, ...g.uniforms },
    buffers: g.buffers,
    workgroups: gemmGrid(tilesN, tilesM, Math.ceil(g.K / kChunk)),
    loop: g.body.loopIterations(kChunk),
    label: g.label,
  });
  return Math.ceil(g.K / kChunk);
}
