// The process-wide engine: the GPU runtime, the autograd tape, tensor scopes and the RNG.
import { Runtime } from './gpu/runtime.js';
import { Rng } from './rng.js';
import type { Tensor } from './tensor.js';
import type { TapeNode } from './autograd/tape.js';

/** The process-wide engine state: GPU runtime, tape, tidy scopes and the seeded RNG. */
export class Engine {
  /** Recorded ops, in execution order, while gradients are enabled. */
  readonly tape: TapeNode[] = [];
  gradEnabled = true;
  /** Open `tidy` scopes; each collects the tensors created inside it. */
  readonly scopes: Set<Tensor>[] = [];
  readonly rng = new Rng(1234);

  constructor(readonly rt: Runtime) {}
}

let current: Engine | null = null;
let starting: Promise<Engine> | null = null;

/** Acquires the GPU (once per process) and returns the engine. */
export async function init(): Promise<Engine> {
  if (current) return current;
  starting ??= Runtime.create().then((rt) => (current = new Engine(rt)));
  return starting;
}

/** The engine created by `init()`; throws if `init()` has not finished. */
export function engine(): Engine {
  if (!current) throw new Error('the engine is not initialised: `await init()` before creating tensors or running ops');
  return current;
}
