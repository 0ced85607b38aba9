// Choosing among CPU adapters by speed. A machine without a GPU may offer several software
// adapters — llvmpipe over OpenGL ES, SwiftShader or another Vulkan CPU driver — and which runs
// our kernels faster depends on their shader compilers (SwiftShader does not unroll our register
// tiles; llvmpipe does). A short GEMM on each decides, once per machine: the times are kept in
// the cache folder beside the kernel timings.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheDir } from './cache.js';

/** Where each CPU adapter's probe time is kept, by "backend: description". */
export function probeFile(): string {
  return join(cacheDir(), 'adapter-probe.json');
}

const N = 256;
// A plain register-blocked GEMM, like the engine's: 4 outputs per invocation, loops the compiler may unroll.
const PROBE = /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
const N = ${N}u;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) g: vec3u) {
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var k = 0u; k < N; k++) {
    let av = a[g.y * N + k];
    for (var j = 0u; j < 4u; j++) { acc[j] += av * b[k * N + g.x * 4u + j]; }
  }
  for (var j = 0u; j < 4u; j++) { c[g.y * N + g.x * 4u + j] = acc[j]; }
}`;

/** Median milliseconds of a 256³ GEMM on a new device of `adapter` (which is used up by it). */
export async function probeGemmMs(adapter: GPUAdapter): Promise<number> {
  const device = await adapter.requestDevice();
  try {
    const buffer = (data: Float32Array<ArrayBuffer> | null, bytes: number) => {
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
      const buf = device.createBuffer({ size: bytes, usage });
      if (data) device.queue.writeBuffer(buf, 0, data);
      return buf;
    };
    const ones = new Float32Array(N * N).fill(1);
    const [a, b, c] = [buffer(ones, ones.byteLength), buffer(ones, ones.byteLength), buffer(null, ones.byteLength)];
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: PROBE }), entryPoint: 'main' },
    });
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [a, b, c].map((buf, i) => ({ binding: i, resource: { buffer: buf } })),
    });
    const run = async () => {
      const t0 = performance.now();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(N / 4 / 8, N / 8);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    await run(); // compiles
    const times = [await run(), await run(), await run(), await run(), await run()].sort((x, y) => x - y);
    return times[2];
  } finally {
    device.destroy();
  }
}

function readProbes(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(probeFile(), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/**
 * Probe times (ms) for these adapters, keyed "backend: description": from the cache where known,
 * else measured (each measured adapter is used up: request a new one to use it) and saved.
 */
export async function probeTimes(
  candidates: Array<{ key: string; adapter: GPUAdapter }>,
): Promise<{ ms: Record<string, number>; measured: boolean }> {
  const cached = readProbes();
  const ms: Record<string, number> = {};
  let measured = false;
  for (const { key, adapter } of candidates) {
    if (cached[key] !== undefined) ms[key] = cached[key];
    else {
      ms[key] = cached[key] = await probeGemmMs(adapter);
      measured = true;
    }
  }
  if (measured) {
    mkdirSync(dirname(probeFile()), { recursive: true });
    writeFileSync(probeFile(), JSON.stringify(cached, null, 2));
  }
  return { ms, measured };
}
