// Synchronous data parallelism over several devices, as the paper trained (section 3.3): each
// device holds a replica of the parameters and momentum and runs forward and backward on its slice
// of the batch; the gradients are summed across devices and every replica applies the same SGD
// step, so the replicas stay identical and training equals one device's up to float summation
// order.
//
// WebGPU has no copies between devices, so gradients travel through the host. Each device copies
// a bucket of gradients (~25 MiB, last layers first, as backward produces them) into a mapped
// staging buffer as soon as backward has finished them, while it goes on with earlier layers. The
// host sums each bucket in device order (deterministic whatever finishes first) and writes the sum
// back to every device. Summing and stepping everywhere moves each gradient once each way;
// reducing to one device, stepping there and broadcasting the parameters would move as much and
// leave the other devices idle during the step.
import { type Engine, onDevice } from '../engine.js';
import { fill } from '../ops/elementwise.js';
import type { SGD } from '../optim/sgd.js';
import { keep, type Tensor } from '../tensor.js';

/** One device's copy of the trained state. */
export interface Replica {
  engine: Engine;
  /** The parameters, in the same order on every replica. */
  params: Tensor[];
  opt?: SGD;
}

type Mapped = Awaited<ReturnType<Engine['rt']['mapMany']>>;

/** Gradient bucket size: PyTorch DDP's default, big enough that per-copy costs vanish. */
export const BUCKET_BYTES = 25 * 2 ** 20;

/** Sums the replicas' gradients across devices, bucket by bucket; see the file's comment. */
export class GradientExchange {
  /** Parameter indices per bucket, in the order backward finishes them (last parameter first). */
  readonly buckets: number[][] = [];
  /** Milliseconds the last `allReduce` took: what training waits for beyond backward. */
  lastMs = 0;
  private index: Array<Map<Tensor, number>>;
  private bucketOf: number[] = [];
  private readyCount: number[][] = [];
  private reads: Array<Array<Promise<Mapped> | null>> = [];
  // Per device and bucket, made on first use and kept: allocating (and zeroing) hundreds of MiB
  // of staging memory every step would cost more than the copies.
  private staging: Array<Array<GPUBuffer | null>>;

  constructor(
    readonly replicas: readonly Replica[],
    bucketBytes = BUCKET_BYTES,
  ) {
    const shape = (r: Replica) => r.params.map((p) => p.shape.join('x')).join();
    for (const r of replicas)
      if (shape(r) !== shape(replicas[0]))
        throw new Error(
          `device ${r.engine.index}: its replica's parameters differ from device ${replicas[0].engine.index}'s`,
        );
    let bytes = Infinity;
    for (let i = replicas[0].params.length - 1; i >= 0; i--) {
      if (bytes >= bucketBytes) {
        this.buckets.push([]);
        bytes = 0;
      }
      this.buckets.at(-1)!.push(i);
      this.bucketOf[i] = this.buckets.length - 1;
      bytes += replicas[0].params[i].size * 4;
    }
    this.index = replicas.map((r) => new Map(r.params.map((p, i) => [p, i])));
    this.staging = replicas.map(() => this.buckets.map(() => null));
    this.reset();
  }

  private reset(): void {
    this.readyCount = this.replicas.map(() => this.buckets.map(() => 0));
    this.reads = this.replicas.map(() => this.buckets.map(() => null));
  }

  /**
   * For `backward(loss, undefined, { onGradReady })` on replica `d`'s last micro-batch of a step:
   * starts reading each bucket back as soon as all its gradients are final.
   */
  onGradReady(d: number): (leaf: Tensor) => void {
    return (leaf) => {
      const i = this.index[d].get(leaf);
      if (i === undefined) return;
      const b = this.bucketOf[i];
      if (++this.readyCount[d][b] === this.buckets[b].length) this.startRead(d, b);
    };
  }

  private startRead(d: number, b: number): Promise<Mapped> {
    const r = this.replicas[d];
    const grads = this.buckets[b].map((i) => {
      const p = r.params[i];
      // A parameter this replica's loss did not reach: its gradient is zero.
      if (!p.grad) p.grad = onDevice(r.engine, () => keep(fill(p.shape, 0)));
      return { buffer: p.grad.buffer, elemOffset: 0, count: p.size };
    });
    const bytes = grads.reduce((n, g) => n + g.count * 4, 0);
    this.staging[d][b] ??= r.engine.rt.stagingBuffer(bytes);
    const staging = this.staging[d][b];
    const read = r.engine.rt.mapMany(grads, staging);
    this.reads[d][b] = read;
    return read;
  }

  /**
   * Replaces every replica's gradients with their sum over the replicas (added in device order).
   * Buckets not yet on their way (no hook, or parameters without gradients) are read now.
   */
  async allReduce(): Promise<void> {
    const t0 = performance.now();
    try {
      // Start every missing read before waiting on any, so the devices copy in parallel.
      const reads = this.replicas.map((_, d) => this.buckets.map((_, b) => this.reads[d][b] ?? this.startRead(d, b)));
      let b = 0;
      try {
        for (; b < this.buckets.length; b++) {
          const parts = await Promise.all(reads.map((r) => r[b]));
          try {
            this.reduceBucket(b, parts);
          } finally {
            for (const p of parts) p.release();
          }
        }
      } catch (e) {
        // Unmap what is still mapped or on its way before reporting.
        for (const r of reads)
          for (const read of r.slice(b))
            read.then(
              (m) => m.release(),
              () => {},
            );
        throw e;
      }
    } finally {
      this.reset();
      this.lastMs = performance.now() - t0;
    }
  }

  /** Frees the staging buffers. */
  dispose(): void {
    for (const row of this.staging) for (const b of row) b?.destroy();
    this.staging = this.replicas.map(() => this.buckets.map(() => null));
  }

  /** Sums one bucket's gradients in device 0's mapped staging memory (no host copies) and writes the sum to every device. */
  private reduceBucket(b: number, parts: Mapped[]): void {
    const sum = parts[0].data;
    for (let d = 1; d < parts.length; d++) {
      const g = parts[d].data;
      for (let k = 0; k < sum.length; k++) sum[k] += g[k];
    }
    for (const r of this.replicas) {
      let at = 0;
      for (const i of this.buckets[b]) {
        const grad = r.params[i].grad!;
        grad.write(sum.subarray(at, at + grad.size));
        at += grad.size;
      }
    }
  }
}

/**
 * Makes replicas 1… equal to replica 0: parameters and, where replica 0 has them, momentum
 * buffers. For a new run (after initialising replica 0) and after loading a checkpoint into it.
 */
export async function broadcastReplica(replicas: readonly Replica[]): Promise<void> {
  const [src, ...rest] = replicas;
  if (rest.length === 0) return;
  const momentum = src.opt ? src.params.map((p) => src.opt!.buffers.get(p) ?? null) : [];
  const values = await src.engine.rt.readMany(
    src.params.map((p) => ({ buffer: p.buffer, elemOffset: 0, count: p.size })),
  );
  const moments = momentum.some((m) => m)
    ? await src.engine.rt.readMany(
        momentum.flatMap((m) => (m ? [{ buffer: m.buffer, elemOffset: 0, count: m.size }] : [])),
      )
    : null;
  for (const r of rest) {
    let at = 0;
    let mAt = 0;
    r.params.forEach((p, i) => {
      p.write(values.subarray(at, at + p.size));
      at += p.size;
      if (moments && momentum[i] && r.opt) {
        r.opt.momentumOf(p).write(moments.subarray(mAt, mAt + p.size));
        mAt += p.size;
      }
    });
  }
}
