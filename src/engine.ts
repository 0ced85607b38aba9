// Engine state, one Engine per WebGPU device: its runtime (device, pipelines, buffers) and its
// RNG. Ops run on the *current* engine — the first device, unless `onDevice` says otherwise, as
// CUDA's current device does — and every tensor remembers the engine whose buffer it holds. (Each
// device's autograd tape is kept by the tape module; tidy scopes, by the tensor module.)
import { Runtime } from './gpu/runtime.js';
import { host } from './host.js';
import { Rng } from './rng.js';

/** One device's engine state: its GPU runtime and seeded RNG. */
export class Engine {
  readonly rng = new Rng(1234);

  constructor(
    readonly rt: Runtime,
    /** Position among the devices opened by `initDevices` (0 for `init`'s). */
    readonly index: number,
  ) {}
}

const devices: Engine[] = [];
let current: Engine | null = null;
let opening: Promise<unknown> = Promise.resolve();

/** Acquires the GPU (once per process) and returns the first device's engine. */
export async function init(): Promise<Engine> {
  return (await initDevices(1))[0];
}

/**
 * Opens `count` devices (once each per process; the first is `init()`'s) and returns their
 * engines. Each is a separate WebGPU device: one per GPU adapter, or several on the CPU fallback
 * adapter. Throws, naming what the machine offers, when it cannot open that many.
 */
export async function initDevices(count: number): Promise<Engine[]> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`devices: expected a whole number ≥ 1, got ${count}`);
  const run = opening.then(async () => {
    if (devices.length < count) {
      const rts = await openDevices(
        devices.map((e) => e.rt),
        count,
      );
      for (const rt of rts) devices.push(new Engine(rt, devices.length));
    }
    current ??= devices[0];
  });
  opening = run.catch(() => {});
  await run;
  return devices.slice(0, count);
}

/** The current device's engine (the first, unless inside `onDevice`); throws before `init()`. */
export function engine(): Engine {
  if (!current) throw new Error('the engine is not initialised: `await init()` before creating tensors or running ops');
  return current;
}

/**
 * Runs `fn` with `e` as the current engine: tensors it creates live on that device and ops it
 * calls run there. `fn` must be synchronous (ops record their kernels synchronously); await its
 * read-backs outside.
 */
export function onDevice<T>(e: Engine, fn: () => T): T {
  const was = current;
  current = e;
  try {
    const result = fn();
    if (result instanceof Promise)
      throw new Error('onDevice: the function must be synchronous; await read-backs after it returns');
    return result;
  } finally {
    current = was;
  }
}

/**
 * Makes `e` the current engine until changed again, and returns the one before. For asynchronous
 * set-up that nothing else runs beside (e.g. timing kernels on each device's adapter); restore
 * the previous engine in a `finally`. Everywhere else, use onDevice.
 */
export function setCurrentDevice(e: Engine): Engine {
  const was = engine();
  current = e;
  return was;
}

/**
 * Runtimes for devices `open.length` … `count − 1`, opened after those already `open` (the first
 * on the best adapter; the others as `moreAdapters` finds them).
 */
export async function openDevices(open: readonly Runtime[], count: number): Promise<Runtime[]> {
  const made: Runtime[] = [];
  if (open.length === 0) made.push(await Runtime.create());
  const first = open[0] ?? made[0];
  const have = open.length + made.length;
  if (count > have)
    for (const c of await host().moreAdapters(first.adapter, have, count)) made.push(await Runtime.create(c));
  return made;
}
