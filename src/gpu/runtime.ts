// The one module that talks to the WebGPU device: limits, command batching, uploads and
// read-backs, and turning GPU errors into thrown ones (the pipeline and bind-group caches and the
// buffer pool are its parts, in their own files).
import type { AdapterChoice } from './adapter_choice.js';
import { host } from '../host.js';
import { H100_LIMITS, limitsOnlyAdapter, requestDevice } from './limits_device.js';
import { GpuTimer } from './gpu_timer.js';
import { BufferPool } from './pool.js';
import {
  bindingRange,
  checkDispatch,
  checkFootprint,
  cutsLoops,
  type Dispatch,
  fmtBytes,
  GpuError,
  MESA_LOOP_BUDGET,
  writeUniforms,
  type BufferRange,
} from './dispatch.js';
import { BindGroupCache } from './bind_groups.js';
import type { BakedConstants, KernelFile } from './kernels.js';
import { PipelineCache, type WantedPipeline } from './pipelines.js';

export { type BufferRange, type Dispatch, fmtBytes, GpuError, MESA_LOOP_BUDGET, type Uniforms } from './dispatch.js';

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment is at most 256
const UNIFORM_ARENA_SLOTS = 512;

/** The WebGPU device and everything that touches it directly. */
export class Runtime {
  readonly pool: BufferPool;
  private pipelines: PipelineCache;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniformArena: GPUBuffer;
  private uniformData = new ArrayBuffer(UNIFORM_SLOT * UNIFORM_ARENA_SLOTS);
  private uniformSlots = 0;
  private batchLabels: string[] = [];
  private pendingErrors: Promise<string | null>[] = [];
  private lostReason: string | null = null;
  /** Bound where a kernel declares an input that this launch does not use (e.g. no bias). */
  readonly unused: BufferRange;
  dispatchCount = 0;
  private bindGroups: BindGroupCache;
  // Set while dryRun() notes the pipelines a function would use.
  private collecting: Map<string, WantedPipeline> | null = null;
  /**
   * When set, every dispatch is submitted on its own and its wall time added here by kernel
   * (name, entry point and variant constants). Exact where submit blocks until the work is done
   * (Dawn's GLES backend); elsewhere it times submission only. Slows everything down.
   */
  profile: Map<string, { ms: number; count: number }> | null = null;
  private timer: GpuTimer | null = null;
  private timing = false;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterChoice,
  ) {
    this.pool = new BufferPool(device, () => this.bindGroups.clear());
    this.pipelines = new PipelineCache(device, (e) => this.pendingErrors.push(e));
    this.uniformArena = device.createBuffer({
      size: this.uniformData.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform arena',
    });
    this.bindGroups = new BindGroupCache(device, this.uniformArena, UNIFORM_SLOT);
    const unusedBuffer = device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE, label: 'unused binding' });
    this.unused = { buffer: unusedBuffer, byteOffset: 0, byteSize: 256, elemOffset: 0 };
    device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.pendingErrors.push(Promise.resolve(`uncaptured GPU error: ${e.message}`));
    });
  }

  /** Opens a device on `choice` (by default the best adapter here) with the limits the kernels need. */
  static async create(choice?: AdapterChoice): Promise<Runtime> {
    choice ??= await host().chooseAdapter();
    return new Runtime(await requestDevice(choice.adapter), choice);
  }

  /**
   * A runtime over a device that has only `limits` (src/gpu/limits_device.ts): nothing runs on
   * it, but a dry run (dryRun) of any code checks every dispatch and binding against them.
   */
  static limitsOnly(
    limits: Readonly<Record<string, number>> = H100_LIMITS,
    description = 'limits of an NVIDIA H100 (Vulkan), nothing runs',
  ): Runtime {
    const { device, choice } = limitsOnlyAdapter(limits, description);
    return new Runtime(device, choice);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }
  /** Largest number of f32 elements one storage binding may cover. */
  get maxBindingElems(): number {
    return Math.floor(this.maxBindingBytes / 4);
  }
  /** The storage-binding size the launchers split work to; tests lower it to exercise splitting. */
  get maxBindingBytes(): number {
    return Math.min(this.bindingLimitOverride ?? Infinity, this.device.limits.maxStorageBufferBindingSize);
  }
  /** Pretend the adapter binds at most `bytes` per storage binding (null restores the real limit). */
  setBindingLimit(bytes: number | null): void {
    this.bindingLimitOverride = bytes;
  }
  get maxWorkgroupsPerDim(): number {
    return Math.min(this.workgroupLimitOverride ?? Infinity, this.device.limits.maxComputeWorkgroupsPerDimension);
  }
  /** Pretend the adapter allows at most `n` workgroups per grid dimension (tests fold grids at small sizes; null restores the real limit). */
  setWorkgroupLimit(n: number | null): void {
    this.workgroupLimitOverride = n;
  }
  /**
   * The most loop iterations one invocation may run (Dispatch.loop): MESA_LOOP_BUDGET on Mesa's
   * CPU drivers, which cut longer loops short without an error; unbounded elsewhere.
   */
  get loopLimit(): number {
    return this.loopLimitOverride ?? (cutsLoops(this.adapter.description) ? MESA_LOOP_BUDGET : Infinity);
  }
  /** Pretend the adapter runs at most `n` loop iterations per invocation (null restores its own). */
  setLoopLimit(n: number | null): void {
    this.loopLimitOverride = n;
  }
  // What tests lowered the limits to, to exercise splitting at small sizes (null: the adapter's own).
  private bindingLimitOverride: number | null = null;
  private workgroupLimitOverride: number | null = null;
  private loopLimitOverride: number | null = null;
  /** How many workgroups it takes to keep the adapter busy; used to size split-K reductions. */
  get targetWorkgroups(): number {
    return this.adapter.isCpu ? 8 : 1024;
  }

  /**
   * Human-readable adapter line and why it was chosen, e.g. "opengles (compatibility): mesa /
   * llvmpipe … [CPU fallback: no GPU adapter found (vulkan: no adapter)]" or "vulkan (core): nvidia
   * / … [GPU found]".
   */
  describe(): string {
    const c = this.adapter;
    return `${c.backend} (${c.featureLevel}): ${c.description} [${c.isCpu ? 'CPU fallback: ' : ''}${c.reason}]`;
  }

  /** Throws unless `buffer` is this device's (a tensor of another device was passed to an op here). */
  private checkOwned(buffer: GPUBuffer, label: string): void {
    if (buffer !== this.unused.buffer && !this.pool.owns(buffer)) {
      throw new GpuError(
        `${label}: a tensor given to it lives on another device (or was freed); create it, or run the op, on the same device (onDevice)`,
      );
    }
  }

  private checkAlive(label: string): void {
    if (this.lostReason) throw new GpuError(`GPU device lost (${this.lostReason}) while running ${label}`);
  }

  /** The compute pipeline for a kernel entry point with baked constants, compiled once and cached. */
  pipeline(kernel: string, entry: string, constants: BakedConstants = {}, body?: KernelFile): GPUComputePipeline {
    return this.pipelines.get(kernel, entry, constants, body);
  }

  /** Milliseconds spent creating pipelines (shader compilation), for the bench. */
  get compileMs(): number {
    return this.pipelines.compileMs;
  }

  /** Bind groups made so far; a training step repeats its dispatches, so later steps reuse them. */
  get bindGroupsCreated(): number {
    return this.bindGroups.created;
  }

  /**
   * Runs `fn` without executing anything on the GPU, only noting the pipelines its dispatches
   * would use, then compiles the missing ones in parallel (createComputePipelineAsync). For
   * compiling a training step's kernels before the first step; `fn` must not read results or
   * rely on what its kernels would have written. Returns how many pipelines were compiled.
   */
  async precompile(fn: () => void): Promise<number> {
    const { wanted } = this.dryRun(fn);
    await this.pipelines.compile(wanted);
    await this.throwPendingErrors();
    return wanted.size;
  }

  /**
   * Runs `fn` without executing anything on the GPU: its dispatches are checked against the
   * device's limits (throwing as they would) and only note the pipelines they would use (not
   * compiled yet), and `dispatches` counts them. For looking at what a function would run
   * (precompile, tuneStep, a check against a GPU's limits); `fn` must not read results or rely
   * on what its kernels would have written.
   */
  dryRun<T>(fn: () => T): { value: T; wanted: Map<string, WantedPipeline>; dispatches: number } {
    const wanted = new Map<string, WantedPipeline>();
    this.flush();
    const outer = this.collecting;
    const outerCount = this.dryDispatches;
    this.collecting = wanted;
    this.dryDispatches = 0;
    try {
      const value = fn();
      return { value, wanted, dispatches: this.dryDispatches };
    } finally {
      this.collecting = outer;
      this.dryDispatches += outerCount;
    }
  }
  private dryDispatches = 0;

  /** Record one compute dispatch into the current batch (submitted at the next flush). */
  dispatch(d: Dispatch): void {
    this.checkAlive(d.label);
    const [gx, gy = 1, gz = 1] = d.workgroups;
    if (gx === 0 || gy === 0 || gz === 0) return;
    checkDispatch(d, this.limits, this.maxWorkgroupsPerDim, this.loopLimit);
    for (const r of d.buffers) this.checkOwned(r.buffer, d.label);
    if (this.collecting) {
      this.dryDispatches++;
      const { cacheKey, ...wanted } = PipelineCache.source(d.kernel, d.entry ?? 'main', d.constants, d.body);
      if (!this.pipelines.has(cacheKey) && !this.collecting.has(cacheKey)) {
        checkFootprint(d, wanted.code, wanted.entry, this.limits);
        this.collecting.set(cacheKey, wanted);
      }
      return;
    }
    if (this.uniformSlots === UNIFORM_ARENA_SLOTS) this.flush();
    const pipeline = this.pipeline(d.kernel, d.entry ?? 'main', d.constants, d.body);
    const slot = this.uniformSlots++;
    writeUniforms(this.uniformData, slot * UNIFORM_SLOT, UNIFORM_SLOT, d);
    const bindGroup = this.bindGroups.get(pipeline, slot, d);
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass(this.timing ? this.timer?.nextPass() : undefined);
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(gx, gy, gz);
    this.batchLabels.push(d.label);
    this.dispatchCount++;
    if (this.profile) {
      const t0 = performance.now();
      this.flush();
      const key = `${d.kernel}${d.entry && d.entry !== 'main' ? `#${d.entry}` : ''}`;
      const e = this.profile.get(key) ?? { ms: 0, count: 0 };
      e.ms += performance.now() - t0;
      e.count++;
      this.profile.set(key, e);
    }
  }

  /** Submit everything recorded so far. GPU errors surface at the next `sync()` or read. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) this.pass.end();
    this.pass = null;
    this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformData, 0, this.uniformSlots * UNIFORM_SLOT);
    const labels = this.batchLabels;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([this.encoder.finish()]);
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.pendingErrors.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        const e = v ?? o;
        if (!e) return null;
        const kind = v ? 'validation error' : 'out of GPU memory';
        return `GPU ${kind} in a batch of ${labels.length} kernels (${summarise(labels)}): ${e.message}`;
      }),
    );
    this.encoder = null;
    this.uniformSlots = 0;
    this.batchLabels = [];
  }

  /** Whether gpuMs can time work on the GPU (the device has timestamp queries). */
  get timesGpu(): boolean {
    return GpuTimer.supported(this.device);
  }

  /**
   * Runs `fn` and waits for its work; returns its GPU milliseconds from timestamp queries, or null
   * where the device has none (the caller then times the wall clock).
   */
  async gpuMs(fn: () => void): Promise<number | null> {
    if (!this.timesGpu) return null;
    this.timer ??= new GpuTimer(this.device);
    await this.sync();
    this.timer.start();
    this.timing = true;
    try {
      fn();
      this.flush();
    } finally {
      this.timing = false;
    }
    await this.sync();
    return this.timer.read();
  }

  /** Flush, wait for the GPU, and throw the first GPU error seen since the last sync. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwPendingErrors();
  }

  private async throwPendingErrors(): Promise<void> {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    const messages = (await Promise.all(pending)).filter((m): m is string => m !== null);
    this.checkAlive('the last batch');
    // A compile error explains the invalid-pipeline errors that follow it: report it first.
    messages.sort((a, b) => Number(b.startsWith('WGSL')) - Number(a.startsWith('WGSL')));
    if (messages.length) throw new GpuError(messages[0]);
  }

  /** A pooled storage buffer of at least `bytes`, checked against the adapter's limit. */
  createBuffer(bytes: number, label: string): GPUBuffer {
    if (bytes > this.limits.maxBufferSize) {
      throw new GpuError(
        `${label}: needs a ${fmtBytes(bytes)} buffer but the adapter allows at most ${fmtBytes(this.limits.maxBufferSize)}; use a smaller batch or width`,
      );
    }
    return this.pool.acquire(bytes);
  }

  /** Upload `data` at element `elemOffset` of `buffer`. Flushes first so queued kernels see the old contents. */
  write(buffer: GPUBuffer, elemOffset: number, data: Float32Array | Int32Array | Uint32Array): void {
    this.checkOwned(buffer, 'upload');
    this.flush();
    this.device.queue.writeBuffer(buffer, elemOffset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Read `count` f32 values starting at element `elemOffset`. */
  async read(buffer: GPUBuffer, elemOffset: number, count: number): Promise<Float32Array> {
    return this.readMany([{ buffer, elemOffset, count }]);
  }

  /** Reads several buffer ranges back at once, one after another in the result (see mapMany). */
  async readMany(parts: Array<{ buffer: GPUBuffer; elemOffset: number; count: number }>): Promise<Float32Array> {
    const mapped = await this.mapMany(parts);
    const out = mapped.data.slice();
    mapped.release();
    return out;
  }

  /**
   * Copies several buffer ranges, one after another, into one staging buffer and maps it: `data`
   * views the mapped memory (no copy; it may be changed in place) until `release()`. The copies
   * are submitted now, behind the work recorded so far, so a caller that does not await at once
   * can go on recording while they run.
   */
  async mapMany(
    parts: Array<{ buffer: GPUBuffer; elemOffset: number; count: number }>,
    reuse?: GPUBuffer,
  ): Promise<{
    /** The values read, a view of the mapped staging buffer. */
    data: Float32Array;
    /** Unmaps the staging buffer (and destroys it unless it was `reuse`); `data` is gone after. */
    release: () => void;
  }> {
    for (const p of parts) this.checkOwned(p.buffer, 'read-back');
    const count = parts.reduce((n, p) => n + p.count, 0);
    if (reuse && reuse.size < count * 4)
      throw new GpuError(`read-back: a staging buffer of ${fmtBytes(reuse.size)} for ${fmtBytes(count * 4)}`);
    const staging = reuse ?? this.stagingBuffer(count * 4);
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    let at = 0;
    for (const p of parts) {
      if (p.count > 0) this.encoder.copyBufferToBuffer(p.buffer, p.elemOffset * 4, staging, at * 4, p.count * 4);
      at += p.count;
    }
    this.batchLabels.push('read-back');
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      await this.throwPendingErrors();
    } catch (e) {
      if (!reuse) staging.destroy();
      await this.throwPendingErrors();
      throw e;
    }
    const data = new Float32Array(staging.getMappedRange(), 0, count);
    let released = false;
    return {
      data,
      release: () => {
        if (released) return; // idempotent: error paths may release twice
        released = true;
        staging.unmap();
        if (!reuse) staging.destroy();
      },
    };
  }

  /** A buffer to map for reading, of `bytes` (e.g. kept by the caller to read into again and again, see mapMany). */
  stagingBuffer(bytes: number): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(4, Math.ceil(bytes / 4) * 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'read-back staging',
    });
  }

  /**
   * The binding for elements [start, start+count) of a buffer. Offsets must be 256-byte aligned,
   * so the range starts at the aligned-down byte and the shader adds `elemOffset`.
   */
  range(buffer: GPUBuffer, start: number, count: number): BufferRange {
    return bindingRange(buffer, start, count, this.limits.minStorageBufferOffsetAlignment, this.maxBindingBytes);
  }

  /** Releases every buffer and the device. */
  destroy(): void {
    this.flush();
    this.pool.destroyAll();
    this.device.destroy();
  }
}

function summarise(labels: string[]): string {
  const uniq = [...new Set(labels)];
  return uniq.length <= 6 ? uniq.join('; ') : `${uniq.slice(0, 6).join('; ')}; …`;
}
