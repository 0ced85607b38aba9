// The adapter a host found for the engine, and how it says so.

/** Dawn backends the engine knows, or `browser`: a browser's WebGPU, whose backend it does not say. */
export type BackendName = 'vulkan' | 'metal' | 'd3d12' | 'opengles' | 'browser';

/** The adapter picked for this machine and how. */
export interface AdapterChoice {
  adapter: GPUAdapter;
  backend: BackendName;
  featureLevel: 'core' | 'compatibility';
  /** True for software rasterisers (llvmpipe, lavapipe, SwiftShader): slow, CPU-like. */
  isCpu: boolean;
  /** One line for humans: backend, vendor, device. */
  description: string;
  /** Why this adapter: forced, a GPU found, or the CPU fallback and what else was tried. */
  reason: string;
  /** What Dawn printed to stderr while adapters were probed (kept out of the terminal); '' in a browser. */
  nativeLog: string;
  /** Dawn toggles the device runs with (release mode: its safety transforms off); none in a browser. */
  toggles: readonly string[];
}
