// Reading ahead: the items of a sequence (batches, image chunks, decoded images), each requested
// a few items before it is needed, so the input pipeline works while its consumer does.

/**
 * Items `from`…`end − 1` of a sequence, each requested `depth` items ahead of the one in use;
 * the time next() spends waiting is counted (the trainer reports it as waiting for data).
 */
export class Prefetch<T> {
  /** Milliseconds next() spent waiting for an item that was not ready. */
  waitMs = 0;
  private ahead: Promise<T>[] = [];
  private requested: number;

  constructor(
    private request: (k: number) => Promise<T>,
    from: number,
    private end: number,
    private depth: number,
  ) {
    this.requested = from;
  }

  /** The next item, topping up the requests in flight first. */
  async next(): Promise<T> {
    while (this.ahead.length <= this.depth && this.requested < this.end) {
      const p = this.request(this.requested++);
      p.catch(() => {}); // awaited in turn; this keeps an early failure from being "unhandled"
      this.ahead.push(p);
    }
    const item = this.ahead.shift();
    if (!item) throw new Error('Prefetch: read past the end');
    const t0 = performance.now();
    try {
      return await item;
    } finally {
      this.waitMs += performance.now() - t0;
    }
  }
}
