// Top-k error from class scores.

/** Number of rows whose label is not among the k highest scores (ties count against). */
export function topKMisses(scores: ArrayLike<number>, classes: number, labels: ArrayLike<number>, k: number): number {
  let misses = 0;
  for (let r = 0; r < labels.length; r++) {
    const base = r * classes;
    const target = scores[base + labels[r]];
    let higher = 0;
    for (let c = 0; c < classes; c++) {
      const v = scores[base + c];
      if (v > target || (v === target && c < labels[r])) higher++;
    }
    if (!(higher < k) || Number.isNaN(target)) misses++;
  }
  return misses;
}

/** Top-1 and top-5 error over a number of images. */
export interface ErrorRates {
  top1: number;
  top5: number;
  images: number;
}

/** Accumulates top-1 and top-5 error over batches. */
export class ErrorCounter {
  private miss1 = 0;
  private miss5 = 0;
  private n = 0;
  /** Counts a batch of score rows against their labels. */
  add(scores: ArrayLike<number>, classes: number, labels: ArrayLike<number>): void {
    this.miss1 += topKMisses(scores, classes, labels, 1);
    this.miss5 += topKMisses(scores, classes, labels, Math.min(5, classes));
    this.n += labels.length;
  }
  /** The error rates so far. */
  rates(): ErrorRates {
    return { top1: this.miss1 / Math.max(1, this.n), top5: this.miss5 / Math.max(1, this.n), images: this.n };
  }
}
