// GPU time of a stretch of work, from timestamp queries written at the start and end of every
// compute pass it records (adapters with `timestamp-query`: SwiftShader, real GPUs; not GLES).
// The tuner times variants with it instead of wall time around a submit, which on a GPU also
// counts the CPU's encoding and the driver's queueing.

/** Compute passes one timed stretch may span (the runtime ends a pass at every submit). */
const MAX_PASSES = 64;

export class GpuTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;
  private passes = 0;
  private overflow = false;

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * MAX_PASSES, label: 'vggpu timer' });
    const bytes = 2 * MAX_PASSES * 8;
    this.resolveBuffer = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      label: 'vggpu timer resolve',
    });
    this.readBuffer = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'vggpu timer read',
    });
  }

  /** Whether the device can time passes. */
  static supported(device: GPUDevice): boolean {
    return device.features.has('timestamp-query');
  }

  /** Starts a stretch: the passes begun from now on are timed. */
  start(): void {
    this.passes = 0;
    this.overflow = false;
  }

  /** The descriptor for the next compute pass of the stretch (none past MAX_PASSES: the stretch then has no GPU time). */
  nextPass(): GPUComputePassDescriptor {
    if (this.passes === MAX_PASSES) {
      this.overflow = true;
      return {};
    }
    const i = this.passes++;
    return {
      timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    };
  }

  /** The stretch's GPU milliseconds (sum over its passes), or null when it spanned too many passes. Call after the work is submitted. */
  async read(): Promise<number | null> {
    if (this.overflow || this.passes === 0) return this.overflow ? null : 0;
    const encoder = this.device.createCommandEncoder();
    encoder.resolveQuerySet(this.querySet, 0, 2 * this.passes, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 2 * this.passes * 8);
    this.device.queue.submit([encoder.finish()]);
    await this.readBuffer.mapAsync(GPUMapMode.READ, 0, 2 * this.passes * 8);
    const t = new BigInt64Array(this.readBuffer.getMappedRange(0, 2 * this.passes * 8).slice(0));
    this.readBuffer.unmap();
    let ns = 0n;
    for (let i = 0; i < this.passes; i++) if (t[2 * i + 1] > t[2 * i]) ns += t[2 * i + 1] - t[2 * i];
    return Number(ns) / 1e6;
  }
}
