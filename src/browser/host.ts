// The browser host (see ../host.ts): adapters from navigator.gpu, the kernel-timing cache in
// localStorage, settings given by the page. A page calls installBrowserHost() before init().
import { type Host, setHost } from '../host.js';
import type { AdapterChoice } from '../gpu/adapter_choice.js';

/** Options of the browser host. */
export interface BrowserHostOptions {
  /** Ask for this feature level only; default: core, else compatibility. */
  featureLevel?: 'core' | 'compatibility';
  /** Engine settings (VGGPU_TUNE, VGGPU_VARIANTS, …), e.g. from the page's URL. */
  settings?: Record<string, string>;
  /** localStorage key prefix for the cache; default `vggpu/`. */
  storagePrefix?: string;
}

const CPU_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

async function requestAdapter(o: BrowserHostOptions): Promise<AdapterChoice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new Error(
      'This browser has no WebGPU (navigator.gpu is missing). Use Chrome or Edge 113 or later on a machine with a GPU; on Linux, or with a blocklisted GPU, start it with --enable-unsafe-webgpu. Pages must be served over https or from localhost.',
    );
  }
  const levels = o.featureLevel ? [o.featureLevel] : (['core', 'compatibility'] as const);
  for (const featureLevel of levels) {
    const adapter = await gpu.requestAdapter({
      featureLevel,
      powerPreference: 'high-performance',
    } as GPURequestAdapterOptions);
    if (!adapter) continue;
    const i = adapter.info;
    const description =
      [i.vendor, i.architecture, i.device, i.description].filter((s) => s && s.length > 0).join(' / ') ||
      'an adapter that does not describe itself';
    const isCpu = CPU_ADAPTER.test(description) || (i as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    return {
      adapter,
      backend: 'browser',
      featureLevel,
      isCpu,
      description,
      reason: `navigator.gpu, ${featureLevel} feature level`,
      nativeLog: '',
      toggles: [],
    };
  }
  throw new Error(
    `navigator.gpu offered no adapter (asked for feature level ${levels.join(', then ')}). In Chrome, see chrome://gpu; on Linux start it with --enable-unsafe-webgpu.`,
  );
}

/** A host for a web page. */
export function browserHost(o: BrowserHostOptions = {}): Host {
  const prefix = o.storagePrefix ?? 'vggpu/';
  const storage = (): Storage | null => {
    try {
      return globalThis.localStorage ?? null;
    } catch {
      return null; // storage disabled (e.g. some private modes): nothing is kept
    }
  };
  return {
    chooseAdapter: () => requestAdapter(o),
    // Several devices in a page: each its own adapter object of the same kind.
    moreAdapters: async (first, from, count) =>
      Promise.all(
        Array.from({ length: count - from }, () => requestAdapter({ ...o, featureLevel: first.featureLevel })),
      ),
    readCache: (name) => storage()?.getItem(prefix + name) ?? null,
    writeCache: (name, text) => storage()?.setItem(prefix + name, text),
    cachePath: (name) => `localStorage["${prefix}${name}"]`,
    setting: (name) => o.settings?.[name],
    warn: (message) => console.warn(`vggpu: ${message}`),
  };
}

/** Installs the browser host; call before init(). */
export function installBrowserHost(o: BrowserHostOptions = {}): void {
  setHost(browserHost(o));
}
