// What one compute dispatch is, and what it may ask of an adapter: the checks every dispatch
// passes before it is recorded (grid, loop length, bindings; once per pipeline, workgroup size
// and memory), so a size problem throws naming the op instead of failing on the device or, on
// Mesa's CPU drivers, silently computing less. Also the packing of its named uniforms.
import { type BakedConstants, type KernelFile, uniformFields, workgroupFootprint } from './kernels.js';

/** A slice of a storage buffer bound to one shader binding. `elemOffset` is added in-shader. */
export interface BufferRange {
  buffer: GPUBuffer;
  byteOffset: number;
  byteSize: number;
  /** Element offset (in f32 units) from the bound byteOffset to the first element wanted. */
  elemOffset: number;
}

/** A dispatch's uniforms by the field names of the kernel's uniform struct (types come from the struct). */
export type Uniforms = Record<string, number>;

/** One compute dispatch: kernel, constants, uniforms, bindings, grid, and a label for errors. */
export interface Dispatch {
  /** Kernel file name under kernels/ (without .wgsl) and entry point. */
  kernel: KernelFile;
  /** For a kernel of GEMM hooks: the GEMM body composed into it (ops/gemm.ts). */
  body?: KernelFile;
  entry?: string;
  constants?: BakedConstants;
  /** Every field of the kernel's uniform struct, by name; checked against the shader. */
  uniforms: Uniforms;
  /** Storage bindings, numbered from 1 in the shader (binding 0 is the uniform block). */
  buffers: BufferRange[];
  workgroups: [number, number?, number?];
  /**
   * The most loop iterations one invocation runs, all its loops together, where uniforms bound
   * them (loops of baked length are left to the compiler to unroll); checked against loopLimit.
   */
  loop?: number;
  /** Op name and shapes, shown in any GPU error about this dispatch. */
  label: string;
}

/**
 * Mesa's llvmpipe and lavapipe stop an invocation's loops, silently, after 65,535 iterations of
 * all its loops together (one counter per shader, never reset); launchers keep `loop` within
 * this, which leaves room for short loops of baked length that the compiler keeps as loops.
 */
export const MESA_LOOP_BUDGET = 65_000;

/** Whether an adapter (by its description) is one of Mesa's CPU drivers, which cut loops short. */
export function cutsLoops(description: string): boolean {
  return /llvmpipe|lavapipe|softpipe/i.test(description);
}

/** A GPU-side failure (validation, out of memory, device loss, a limit), naming the kernel launch. */
export class GpuError extends Error {}

/** A dispatch's grid, loop length and bindings against the adapter's limits (and the engine's `maxWorkgroupsPerDim` and `loopLimit`). */
export function checkDispatch(
  d: Dispatch,
  l: GPUSupportedLimits,
  maxWorkgroupsPerDim: number,
  loopLimit: number,
): void {
  const [gx, gy = 1, gz = 1] = d.workgroups;
  if (gx > maxWorkgroupsPerDim || gy > maxWorkgroupsPerDim || gz > maxWorkgroupsPerDim) {
    throw new GpuError(
      `${d.label}: dispatch of ${gx}×${gy}×${gz} workgroups exceeds the adapter's limit of ${maxWorkgroupsPerDim} per dimension`,
    );
  }
  if ((d.loop ?? 0) > loopLimit) {
    throw new GpuError(
      `${d.label}: an invocation of ${d.kernel} would loop ${d.loop} times, past the ${loopLimit} this adapter runs (Mesa's CPU drivers silently stop longer loops)`,
    );
  }
  if (d.buffers.length > l.maxStorageBuffersPerShaderStage) {
    throw new GpuError(
      `${d.label}: ${d.buffers.length} storage bindings, more than the adapter's ${l.maxStorageBuffersPerShaderStage}`,
    );
  }
  for (const r of d.buffers) {
    if (
      r.byteSize > l.maxStorageBufferBindingSize ||
      r.byteOffset % l.minStorageBufferOffsetAlignment ||
      r.byteOffset + r.byteSize > r.buffer.size
    ) {
      throw new GpuError(
        `${d.label}: a binding of ${fmtBytes(r.byteSize)} at byte ${r.byteOffset} of a ${fmtBytes(r.buffer.size)} buffer is outside the adapter's limits (${fmtBytes(l.maxStorageBufferBindingSize)} per binding, offsets in steps of ${l.minStorageBufferOffsetAlignment})`,
      );
    }
  }
}

/** A pipeline's workgroup size and workgroup memory against the adapter's limits (once per pipeline). */
export function checkFootprint(d: Dispatch, code: string, entry: string, l: GPUSupportedLimits): void {
  const f = workgroupFootprint(d.kernel, code, entry);
  const [x, y, z] = f.size;
  if (
    x * y * z > l.maxComputeInvocationsPerWorkgroup ||
    x > l.maxComputeWorkgroupSizeX ||
    y > l.maxComputeWorkgroupSizeY ||
    z > l.maxComputeWorkgroupSizeZ
  ) {
    throw new GpuError(
      `${d.label}: kernel ${d.kernel} runs workgroups of ${x}×${y}×${z}, beyond the adapter's ${l.maxComputeInvocationsPerWorkgroup} invocations (${l.maxComputeWorkgroupSizeX}×${l.maxComputeWorkgroupSizeY}×${l.maxComputeWorkgroupSizeZ})`,
    );
  }
  if (f.workgroupBytes > l.maxComputeWorkgroupStorageSize) {
    throw new GpuError(
      `${d.label}: kernel ${d.kernel} uses ${fmtBytes(f.workgroupBytes)} of workgroup memory, more than the adapter's ${fmtBytes(l.maxComputeWorkgroupStorageSize)}`,
    );
  }
}

/** Packs a dispatch's named uniforms in the order and types of its kernel's uniform struct. */
export function writeUniforms(target: ArrayBuffer, byteOffset: number, slotBytes: number, d: Dispatch): void {
  const fields = uniformFields(d.kernel);
  if (fields.length * 4 > slotBytes) throw new GpuError(`kernel ${d.kernel}: too many uniforms (${fields.length})`);
  const view = new DataView(target, byteOffset, slotBytes);
  const given = Object.keys(d.uniforms);
  if (given.length !== fields.length) {
    const extra = given.filter((k) => !fields.some((f) => f.name === k));
    if (extra.length)
      throw new GpuError(
        `${d.label}: kernel ${d.kernel} has no uniform ${extra.join(', ')} (its fields: ${fields.map((f) => f.name).join(', ')})`,
      );
  }
  fields.forEach((f, i) => {
    const v = d.uniforms[f.name];
    if (v === undefined) throw new GpuError(`${d.label}: kernel ${d.kernel} needs uniform ${f.name} (${f.type})`);
    if (f.type === 'f32') {
      if (!Number.isFinite(v))
        throw new GpuError(`${d.label}: uniform ${f.name} = ${v} of kernel ${d.kernel} is not a finite f32`);
      view.setFloat32(i * 4, v, true);
    } else if (f.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw new GpuError(`${d.label}: uniform ${f.name} = ${v} of kernel ${d.kernel} is not a u32`);
      view.setUint32(i * 4, v, true);
    } else {
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
        throw new GpuError(`${d.label}: uniform ${f.name} = ${v} of kernel ${d.kernel} is not an i32`);
      view.setInt32(i * 4, v, true);
    }
  });
}

/** Bytes as B, KiB, MiB or GiB for messages. */
export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

/**
 * The binding for elements [start, start+count) of a buffer. Offsets must be `align`-byte
 * aligned, so the range starts at the aligned-down byte and the shader adds `elemOffset`.
 */
export function bindingRange(
  buffer: GPUBuffer,
  start: number,
  count: number,
  align: number,
  maxBytes: number,
): BufferRange {
  const byteStart = start * 4;
  const byteOffset = Math.floor(byteStart / align) * align;
  const byteSize = Math.max(4, byteStart - byteOffset + count * 4);
  if (byteSize > maxBytes)
    throw new GpuError(`a binding of ${fmtBytes(byteSize)} exceeds the adapter's ${fmtBytes(maxBytes)} limit`);
  return { buffer, byteOffset, byteSize, elemOffset: (byteStart - byteOffset) / 4 };
}
