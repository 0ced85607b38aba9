// The GEMM bodies that matmul and the three implicit-GEMM convolution passes share, and their
// launcher. A kernel of hooks (kernels/matmul.wgsl, conv2d_forward.wgsl, …: loads and stores)
// gets a body composed in at its `//#body` line: the register-tiled body (CPU-like adapters), the
// small workgroup-memory one, or the GPU bodies (128×128 and 64×64 tiles, 8×8 per invocation,
// double-buffered). A new body is a WGSL file and a row in GEMM_BODIES; every GEMM-based pass then
// offers it as a variant of the same name.
import { engine } from '../engine.js';
import type { BufferRange, Uniforms } from '../gpu/runtime.js';
import type { BakedConstants, KernelFile } from '../gpu/kernels.js';

export interface GemmTile {
  /** Outputs per invocation along m and n. */
  TM: number;
  TN: number;
  WG_X: number;
  WG_Y: number;
  /** The workgroup's output tile along m and n. */
  BM: number;
  BN: number;
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
  /**
   * Floats one invocation keeps live: accumulators plus the operands it holds per step (and, for
   * the staged bodies, the next tile's loads); see Variant.liveFloats.
   */
  liveFloats: number;
}

/** The workgroup-memory tile (gemm_shared_body.wgsl). */
export const SHARED_TILE: GemmTile = { TM: 4, TN: 4, WG_X: 16, WG_Y: 16, BM: 64, BN: 64 };

/** A GPU body's tile (gemm_gpu_body.wgsl): 8×8 per invocation, so 8·WG per side. */
const gpuTile = (WG: number): GemmTile => ({ TM: 8, TN: 8, WG_X: WG, WG_Y: WG, BM: 8 * WG, BN: 8 * WG });
/** The GPU body's K-tile: 8 along k per stage. */
const GPU_BK = 8;

/** Whether the adapter runs a workgroup of WG×WG invocations holding `bytes` of workgroup memory. */
function workgroupFits(WG: number, bytes: number): boolean {
  const l = engine().rt.limits;
  return (
    l.maxComputeInvocationsPerWorkgroup >= WG * WG &&
    l.maxComputeWorkgroupSizeX >= WG &&
    l.maxComputeWorkgroupSizeY >= WG &&
    l.maxComputeWorkgroupStorageSize >= bytes
  );
}

/** Whether the adapter runs the small workgroup-memory body (256 invocations, 8 KiB of workgroup memory). */
export function sharedGemmFits(): boolean {
  return workgroupFits(16, 8192);
}

/** Workgroup memory of a GPU body: two buffers of a BK-deep slice of A's and B's tiles. */
export const gpuBodyBytes = (WG: number) => 2 * 2 * GPU_BK * 8 * WG * 4;

/** A GPU body of WG×WG invocations: 8×8 accumulators, two vec4s of A and of B per k, the staged loads. */
function gpuBody(WG: number): GemmBody {
  const t = gpuTile(WG);
  const staged = (2 * t.BM * GPU_BK) / (WG * WG);
  return {
    name: `gemm-gpu${t.BM}`,
    file: 'gemm_gpu_body',
    applies: () => workgroupFits(WG, gpuBodyBytes(WG)),
    rank: (cpu) => (cpu ? 2 : 0) + (WG === 16 ? 0 : 1),
    tile: () => t,
    // Per K-tile: the loop over tiles, staging loads and stores, and BK steps whose inner loops
    // llvmpipe may keep as loops (counted, to stay under its cut).
    loopIterations: (k) => Math.ceil(k / GPU_BK) * (1 + 2 * staged + GPU_BK * 11),
    liveFloats: 64 + 16 + staged,
  };
}

/** The GEMM bodies, one row each. */
export const GEMM_BODIES: readonly GemmBody[] = [
  // Register tiles: what CPU adapters' compilers keep in registers; everywhere.
  {
    name: 'gemm-reg',
    file: 'gemm_body',
    applies: () => true,
    rank: (cpu) => (cpu ? 0 : 3),
    tile: chooseTile,
    loopIterations: (k) => k,
    liveFloats: 8 * 8 + 8 + 8,
  },
  // Tiles staged in workgroup memory: GPUs. A step of 16 along k runs the staging loop (4) and
  // the loop over the 16 (llvmpipe keeps both as loops; measured ~18–19 iterations per step).
  {
    name: 'gemm-wg',
    file: 'gemm_shared_body',
    applies: sharedGemmFits,
    rank: (cpu) => (cpu ? 1 : 2),
    tile: () => SHARED_TILE,
    loopIterations: (k) => Math.ceil(k / 16) * 21,
    liveFloats: 16 + 8,
  },
  // GPU tiles: 128×128 per 256 invocations (the larger reuse per load), and 64×64 per 64 for
  // products too small to fill a GPU with 128×128 tiles.
  gpuBody(16),
  gpuBody(8),
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
  const wg = workgroupShape(M, TM);
  return { TM, TN, ...wg, BM: TM * wg.WG_Y, BN: TN * wg.WG_X };
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
  return [Math.ceil(N / t.BN), Math.ceil(M / t.BM)];
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
