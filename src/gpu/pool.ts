// Reuses freed storage buffers by size, so a training step allocates nothing after the first.

/** Buffer-pool counters, for leak checks. */
export interface PoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Released buffers kept for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
  /** Everything the pool owns on the device: live + pooled. */
  allocatedBytes: number;
}

const GRANULE = 256;

/** Storage buffers reused by size. */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private live = new Map<GPUBuffer, number>();
  private pooledBytes = 0;
  private pooledBuffers = 0;
  private liveBytes = 0;

  /** `onDestroy` runs whenever buffers are destroyed (so bind groups naming them can be dropped). */
  constructor(
    private device: GPUDevice,
    private onDestroy: () => void = () => {},
  ) {}

  /** A buffer of at least `bytes`, reused from the pool when one of that size is free. */
  acquire(bytes: number): GPUBuffer {
    const size = Math.max(GRANULE, Math.ceil(bytes / GRANULE) * GRANULE);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.pooledBytes -= size;
      this.pooledBuffers--;
    } else {
      buffer = this.device.createBuffer({
        size,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
    }
    this.live.set(buffer, size);
    this.liveBytes += size;
    return buffer;
  }

  /** True for a buffer handed out by this pool and not yet released. */
  owns(buffer: GPUBuffer): boolean {
    return this.live.has(buffer);
  }

  /** Returns a buffer to the pool. */
  release(buffer: GPUBuffer): void {
    const size = this.live.get(buffer);
    if (size === undefined) throw new Error('BufferPool.release: buffer is not live (released twice?)');
    this.live.delete(buffer);
    this.liveBytes -= size;
    let list = this.free.get(size);
    if (!list) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buffer);
    this.pooledBytes += size;
    this.pooledBuffers++;
  }

  /** Destroys pooled (unused) buffers, returning their memory to the device. */
  trim(): void {
    this.onDestroy();
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
    this.pooledBuffers = 0;
  }

  /** Destroys every buffer, live or pooled. */
  destroyAll(): void {
    this.trim();
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.liveBytes = 0;
  }

  /** Current counters. */
  stats(): PoolStats {
    return {
      liveBuffers: this.live.size,
      liveBytes: this.liveBytes,
      pooledBuffers: this.pooledBuffers,
      pooledBytes: this.pooledBytes,
      allocatedBytes: this.liveBytes + this.pooledBytes,
    };
  }
}
