// Helpers shared by op launchers: splitting work into binding-sized chunks and sizing grids.
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { fmtBytes } from '../gpu/runtime.js';

/** Most elements one binding may cover, less room for the 256-byte offset alignment. */
export function maxChunkElems(): number {
  return Math.floor((engine().rt.maxBindingElems - 64) / 64) * 64;
}

/** Calls fn(start, count) over [0, total) in pieces that each fit one storage binding. */
export function forEachChunk(total: number, fn: (start: number, count: number) => void): void {
  const max = maxChunkElems();
  for (let s = 0; s < total; s += max) fn(s, Math.min(max, total - s));
}

/**
 * Splits a batch of `images` into slices whose per-image tensors (elements per image, one entry per
 * bound tensor) fit one binding, of at most `maxImages` each, then calls fn(firstImage, imageCount) per slice.
 */
export function forEachImageSlice(
  op: string,
  images: number,
  perImage: number[],
  fn: (first: number, count: number) => void,
  maxImages = Infinity,
): void {
  const largest = Math.max(...perImage);
  const fit = Math.min(Math.floor(maxChunkElems() / largest), maxImages);
  if (fit < 1) {
    throw new OpError(
      op,
      `one image needs a ${fmtBytes(largest * 4)} binding, more than the adapter's ${fmtBytes(engine().rt.maxBindingBytes)} limit; use a smaller input or width`,
    );
  }
  for (let s = 0; s < images; s += fit) fn(s, Math.min(fit, images - s));
}

/** A 2-D grid of `count` workgroups (1-D work indexed by flatIndex in the shader). */
export function grid2d(count: number): [number, number] {
  const max = engine().rt.maxWorkgroupsPerDim;
  if (count <= max) return [Math.max(1, count), 1];
  const gy = Math.ceil(count / max);
  return [Math.ceil(count / gy), gy];
}

/** Grid for `n` elements at 256 per workgroup. */
export function gridFor(n: number): [number, number] {
  return grid2d(Math.ceil(n / 256));
}

/** How many floats a kernel may load at a time given these counts and offsets: 4, 2 or 1. */
export function vectorWidth(...multiplesOf: number[]): 1 | 2 | 4 {
  return multiplesOf.every((v) => v % 4 === 0) ? 4 : multiplesOf.every((v) => v % 2 === 0) ? 2 : 1;
}
