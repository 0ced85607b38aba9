// A stand-in for a GPU that has only limits: its buffers have sizes and no memory, and nothing
// can run on it. A Runtime over one (Runtime.limitsOnly) dry-runs any code — a training step of
// VGG-19 at batch 256, say — and checks every dispatch and binding it would make against that
// GPU's limits (Runtime.dispatch), on a machine without that GPU. And the limits a real device
// is opened with (requestDevice).
import type { AdapterChoice } from './adapter_choice.js';

/**
 * Limits of an NVIDIA H100 as Dawn's Vulkan backend reports them (the WebGPU limits a real
 * H100 gets; a 2 GiB binding is the lower of what Dawn builds expose there).
 */
export const H100_LIMITS: Readonly<Record<string, number>> = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeWorkgroupSizeY: 1024,
  maxComputeWorkgroupSizeZ: 64,
  maxComputeWorkgroupStorageSize: 49152,
  maxStorageBufferBindingSize: 2 ** 31,
  maxBufferSize: 2 ** 32,
  maxStorageBuffersPerShaderStage: 10,
  minStorageBufferOffsetAlignment: 32,
  minUniformBufferOffsetAlignment: 256,
  maxUniformBufferBindingSize: 65536,
};

const cannotRun = (what: string) => () => {
  throw new Error(
    `${what} on a limits-only device: it only checks dispatches (use Runtime.dryRun), nothing runs or reads back`,
  );
};

/** A device and adapter with `limits` and no memory or execution, described as `description`. */
export function limitsOnlyAdapter(
  limits: Readonly<Record<string, number>>,
  description: string,
): { device: GPUDevice; choice: AdapterChoice } {
  const features = new Set<string>() as unknown as GPUSupportedFeatures;
  const device = {
    label: description,
    limits,
    features,
    lost: new Promise(() => {}),
    queue: { writeBuffer() {}, submit: cannotRun('submitting work'), onSubmittedWorkDone: async () => {} },
    addEventListener() {},
    pushErrorScope() {},
    popErrorScope: async () => null,
    createBuffer: ({ size, label }: GPUBufferDescriptor) => ({
      size,
      label,
      destroy() {},
      unmap() {},
      mapAsync: cannotRun('reading back'),
      getMappedRange: cannotRun('reading back'),
    }),
    createCommandEncoder: cannotRun('recording commands'),
    createShaderModule: cannotRun('compiling a shader'),
    createComputePipeline: cannotRun('compiling a pipeline'),
    createComputePipelineAsync: cannotRun('compiling a pipeline'),
    createBindGroup: cannotRun('binding buffers'),
    destroy() {},
  } as unknown as GPUDevice;
  const adapter = { limits, features, info: { description } } as unknown as GPUAdapter;
  return {
    device,
    choice: {
      adapter,
      backend: 'vulkan',
      featureLevel: 'core',
      isCpu: false,
      description,
      reason: 'limits only: nothing runs',
      nativeLog: '',
      toggles: [],
    },
  };
}

/** A device on `adapter` with everything it offers of the limits the kernels use (the defaults are small). */
export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const a = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupsPerDimension: a.maxComputeWorkgroupsPerDimension,
  };
  // Timestamps let the tuner time kernels on the GPU (gpu/gpu_timer.ts).
  const requiredFeatures: GPUFeatureName[] = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  return adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'vggpu' });
}
