// Picks the best WebGPU adapter on this machine: a real GPU through the platform's native
// backend (core features), else Dawn's OpenGL ES backend over Mesa's llvmpipe (compatibility
// mode), which is how the engine runs on CPU-only Linux machines.
import { availableParallelism } from 'node:os';
import { create, globals } from 'webgpu';
import { probeFile, probeTimes } from './adapter_probe.js';
import { captureNativeStderr } from './native_stderr.js';

export type { AdapterChoice, BackendName } from '../../gpu/adapter_choice.js';
import type { AdapterChoice, BackendName } from '../../gpu/adapter_choice.js';

let globalsInstalled = false;
// Dawn's GPU instances must outlive every adapter and device made from them: a collected
// instance tears down the backend under live devices (crashes or hangs at the next GC).
const instances: GPU[] = [];

function nativeBackend(): BackendName {
  if (process.platform === 'darwin') return 'metal';
  if (process.platform === 'win32') return 'd3d12';
  return 'vulkan';
}

function describe(a: GPUAdapter): string {
  const i = a.info;
  return (
    [i.vendor, i.architecture, i.device, i.description].filter((s) => s && s.length > 0).join(' / ') ||
    'unknown adapter'
  );
}

const CPU_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

/**
 * Dawn's safety transforms that the engine turns off ("release mode"; VGGPU_SAFE=1 keeps them,
 * and the kernel tests run both ways with identical results):
 * - disable_robustness: no clamp on every buffer index; our kernels clamp or guard each index
 *   themselves (a lane past an edge loads a clamped address and stores nothing);
 * - disable_polyfills_on_integer_div_and_mod: no guard on every integer / and %; no kernel
 *   divides by a value a launcher can set to zero (sizes, strides and tile counts are ≥ 1);
 * - disable_workgroup_init: no zeroing of workgroup memory; every kernel writes the workgroup
 *   memory it reads before the barrier that precedes the read.
 */
export const RELEASE_TOGGLES = [
  'disable_robustness',
  'disable_polyfills_on_integer_div_and_mod',
  'disable_workgroup_init',
] as const;

/** The Dawn toggles adapters are opened with: RELEASE_TOGGLES, or none under VGGPU_SAFE=1. */
export function dawnToggles(): string[] {
  return process.env.VGGPU_SAFE === '1' ? [] : [...RELEASE_TOGGLES];
}

/**
 * An adapter of `backend`, opened with `toggles` (default: dawnToggles()), or null when the
 * backend has none. Exported for opening one in the other mode beside the engine's (tests).
 */
export async function tryBackend(
  backend: BackendName,
  featureLevel: 'core' | 'compatibility',
  adapterName?: string,
  toggles = dawnToggles(),
): Promise<AdapterChoice | null> {
  if (backend === 'opengles' && !process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
  let gpu: GPU;
  try {
    gpu = create([
      `backend=${backend}`,
      ...(adapterName ? [`adapter=${adapterName}`] : []),
      ...(toggles.length ? [`enable-dawn-features=${toggles.join(',')}`] : []),
    ]);
    instances.push(gpu);
  } catch {
    return null;
  }
  const adapter = await gpu.requestAdapter({ featureLevel, powerPreference: 'high-performance' });
  if (!adapter) return null;
  const description = describe(adapter);
  const isCpu =
    CPU_ADAPTER.test(description) || (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { adapter, backend, featureLevel, isCpu, description, reason: '', nativeLog: '', toggles };
}

const keyOf = (c: AdapterChoice) => `${c.backend}: ${c.description}`;

/** Of several CPU adapters, the one whose GEMM probe ran fastest (timed once per machine). */
async function fastestCpu(cpu: AdapterChoice[]): Promise<AdapterChoice> {
  const { ms, measured } = await probeTimes(cpu.map((c) => ({ key: keyOf(c), adapter: c.adapter })));
  const best = cpu.reduce((a, b) => (ms[keyOf(b)] < ms[keyOf(a)] ? b : a));
  const times = cpu.map((c) => `${c.backend} ${ms[keyOf(c)].toFixed(1)} ms`).join(', ');
  const reason = `no GPU adapter found; of ${cpu.length} CPU adapters the fastest on a GEMM probe (${times}; ${measured ? 'timed now, kept in' : 'timed before, in'} ${probeFile()})`;
  // A probed adapter has made its device: ask its backend for a fresh one.
  const fresh = measured ? await tryBackend(best.backend, best.featureLevel) : best;
  if (!fresh) throw new Error(`${keyOf(best)}: the adapter went away after its probe`);
  return { ...fresh, reason };
}

/**
 * Finds an adapter: a GPU through the platform's native backend if there is one; else, of the CPU
 * adapters (llvmpipe over GLES; SwiftShader or another Vulkan CPU driver where the Vulkan loader
 * finds one), the fastest on a GEMM probe. `VGGPU_BACKEND=vulkan|metal|d3d12|opengles` forces one
 * backend. Dawn's start-up warnings are kept in `nativeLog`.
 */
export async function chooseAdapter(): Promise<AdapterChoice> {
  if (!globalsInstalled) {
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
  const forced = process.env.VGGPU_BACKEND as BackendName | undefined;
  const tried: string[] = [];
  const order: Array<[BackendName, 'core' | 'compatibility']> = forced
    ? [[forced, forced === 'opengles' ? 'compatibility' : 'core']]
    : [
        [nativeBackend(), 'core'],
        ['opengles', 'compatibility'],
      ];
  const { value: choice, text } = await captureNativeStderr(async () => {
    const cpu: AdapterChoice[] = [];
    for (const [backend, level] of order) {
      const c = await tryBackend(backend, level);
      tried.push(`${backend}: ${c ? c.description : 'no adapter'}`);
      if (!c) continue;
      if (forced) return { ...c, reason: 'forced by VGGPU_BACKEND' };
      if (!c.isCpu) return { ...c, reason: 'GPU found' };
      cpu.push(c);
    }
    if (cpu.length === 0) return null;
    if (cpu.length === 1) {
      const others = tried.filter((t) => !t.startsWith(`${cpu[0].backend}:`));
      return { ...cpu[0], reason: `no GPU adapter found${others.length ? ` (${others.join('; ')})` : ''}` };
    }
    return fastestCpu(cpu);
  });
  if (choice) return { ...choice, nativeLog: text };
  const dawnSaid = text.trim()
    ? ` Dawn said: ${text
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('Warning:'))
        .join(' ')}`
    : '';
  const fix = forced
    ? `VGGPU_BACKEND=${forced} forces that backend; unset it to let the engine choose.`
    : 'On Debian/Ubuntu without a GPU, install the Mesa EGL/GLES packages with `npm run setup` (libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri).';
  throw new Error(`No WebGPU adapter found (tried ${tried.join('; ')}). ${fix}${dawnSaid}`);
}

/**
 * The adapter names Dawn lists for a backend, in its order. Dawn's Node bindings have no call for
 * this, but asking for an adapter name that matches none makes them throw the list.
 */
async function listAdapterNames(backend: BackendName, featureLevel: 'core' | 'compatibility'): Promise<string[]> {
  const gpu = create([`backend=${backend}`, 'adapter=\u0001(list every adapter)']);
  instances.push(gpu);
  try {
    await gpu.requestAdapter({ featureLevel });
  } catch (e) {
    return [...(e as Error).message.matchAll(/^ \* backend: '[^']*', name: '(.*)'$/gm)].map((m) => m[1]);
  }
  return [];
}

/**
 * Adapters for devices `from` … `count − 1` beside `first` (device 0's). On the CPU fallback every
 * device shares the one CPU adapter (at most one device per core: each adds its own threads); this
 * is how several devices are tested without several GPUs. On a GPU machine each device gets a GPU
 * of its own, picked by name, since Dawn's Node bindings choose adapters by name only.
 */
export async function moreAdapters(first: AdapterChoice, from: number, count: number): Promise<AdapterChoice[]> {
  const wanted = Array.from({ length: count - from }, (_, i) => from + i);
  const { value, text } = await captureNativeStderr(async () => {
    if (first.isCpu) {
      const cores = availableParallelism();
      if (count > cores)
        throw new Error(
          `--devices ${count}: there is no GPU here, and the CPU fallback (${first.description}) offers at most one device per core (${cores}); use --devices ${cores} or fewer`,
        );
      return Promise.all(wanted.map(() => tryBackend(first.backend, first.featureLevel)));
    }
    const names = (await listAdapterNames(first.backend, first.featureLevel)).filter((n) => !CPU_ADAPTER.test(n));
    const others = names.filter((n) => !first.description.includes(n));
    const distinct = [...new Set(others)];
    if (1 + distinct.length < count) {
      const shared =
        others.length > distinct.length
          ? ` Several GPUs share a name (${names.join(', ')}), and Dawn's Node bindings select adapters by name only, so one process can open just one of them.`
          : '';
      throw new Error(
        `--devices ${count}: this machine offers ${1 + distinct.length} ${first.backend} GPU adapter${distinct.length ? 's' : ''} (${[first.description, ...distinct].join('; ')}).${shared} Use --devices ${1 + distinct.length} or fewer.`,
      );
    }
    return Promise.all(wanted.map((i) => tryBackend(first.backend, first.featureLevel, distinct[i - 1])));
  });
  return value.map((c, i) => {
    if (!c) throw new Error(`device ${wanted[i]}: ${first.backend} offered no adapter for it`);
    return { ...c, reason: `device ${wanted[i]} of ${count}`, nativeLog: text };
  });
}
