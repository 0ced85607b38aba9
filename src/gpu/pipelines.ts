// The compute-pipeline cache: one pipeline per kernel source (its baked constants and GEMM body
// make the key) and entry point, compiled at first use, or ahead of time in parallel.
import { type BakedConstants, type KernelFile, kernelSource } from './kernels.js';

/** A pipeline a dry run found missing: its cache key's parts and its WGSL. */
export interface WantedPipeline {
  key: string;
  code: string;
  entry: string;
}

/** Compute pipelines by kernel source and entry point, compiled once per device. */
export class PipelineCache {
  private pipelines = new Map<string, GPUComputePipeline>();
  /** Milliseconds spent creating pipelines (shader compilation), for the bench. */
  compileMs = 0;

  /** `onError` hears each shader module's compile errors (a promise of one message, or null). */
  constructor(
    private device: GPUDevice,
    private onError: (message: Promise<string | null>) => void,
  ) {}

  /** The cache key and WGSL of a kernel entry point with baked constants. */
  static source(
    kernel: string,
    entry: string,
    constants: BakedConstants = {},
    body?: KernelFile,
  ): WantedPipeline & { cacheKey: string } {
    const { key, code } = kernelSource(kernel, constants, body);
    return { key, code, entry, cacheKey: `${key}#${entry}` };
  }

  /** True when the pipeline of `cacheKey` (PipelineCache.source's) is compiled. */
  has(cacheKey: string): boolean {
    return this.pipelines.has(cacheKey);
  }

  /** The pipeline, compiled now if it is not cached yet. */
  get(kernel: string, entry: string, constants: BakedConstants = {}, body?: KernelFile): GPUComputePipeline {
    const s = PipelineCache.source(kernel, entry, constants, body);
    let p = this.pipelines.get(s.cacheKey);
    if (!p) {
      const t0 = performance.now();
      p = this.device.createComputePipeline(this.descriptor(s));
      this.compileMs += performance.now() - t0;
      this.pipelines.set(s.cacheKey, p);
    }
    return p;
  }

  /** Compiles the wanted pipelines in parallel (createComputePipelineAsync). */
  async compile(wanted: Map<string, WantedPipeline>): Promise<void> {
    const t0 = performance.now();
    await Promise.all(
      [...wanted].map(async ([cacheKey, w]) => {
        this.pipelines.set(cacheKey, await this.device.createComputePipelineAsync(this.descriptor(w)));
      }),
    );
    this.compileMs += performance.now() - t0;
  }

  private descriptor({ key, code, entry }: WantedPipeline): GPUComputePipelineDescriptor {
    const module = this.device.createShaderModule({ code, label: key });
    // Compile errors reach the user at the next sync, with the shader's name and line.
    this.onError(
      module.getCompilationInfo().then((info) => {
        const errs = info.messages.filter((m) => m.type === 'error');
        return errs.length
          ? `WGSL compile error in ${key}: ${errs.map((m) => `line ${m.lineNum}: ${m.message}`).join('; ')}`
          : null;
      }),
    );
    return { layout: 'auto', compute: { module, entryPoint: entry }, label: `${key}#${entry}` };
  }
}
