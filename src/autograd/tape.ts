// The autograd tape, micrograd-style but over kernel launches: each op appends a node with its
// inputs, the tensors its backward rule needs, and that rule. `backward()` walks it in reverse.
// Each device has its own tape: an op is recorded on its output's device, and a loss's backward
// runs there. Whether ops are recorded at all (noGrad) is process-wide.
import { type Engine, engine, onDevice } from '../engine.js';
import { OpError } from '../errors.js';
import { keep, type Tensor } from '../tensor.js';
import { accumulateInto, fill } from '../ops/fill.js';

/** Gradient rule: given dL/d(output), returns dL/d(input) for each input (null where not needed). */
export type BackwardRule = (gradOutput: Tensor, needsGrad: readonly boolean[]) => Array<Tensor | null>;

/** One recorded op: its inputs and output, the tensors its backward rule keeps, and the rule. */
export interface TapeNode {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  /** Retained until this node's backward has run, then released. */
  saved: Tensor[];
  backward: BackwardRule;
}

const tapes = new WeakMap<Engine, TapeNode[]>();
let gradEnabled = true;

/** The ops recorded on `e`'s device so far, in execution order. */
export function tapeOf(e: Engine = engine()): TapeNode[] {
  let t = tapes.get(e);
  if (!t) {
    t = [];
    tapes.set(e, t);
  }
  return t;
}

/** Records an op on the tape if gradients are on and any input needs one. */
export function record(op: string, inputs: Tensor[], output: Tensor, saved: Tensor[], backward: BackwardRule): void {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return;
  output.requiresGrad = true;
  output.isLeaf = false;
  for (const t of saved) t.retain();
  tapeOf(output.engine).push({ op, inputs, output, saved, backward });
}

/**
 * Back-propagates from a scalar `loss` (or from `gradOutput` for a non-scalar output), adding
 * each parameter's gradient into its `.grad`. Saved activations are released as soon as the node
 * that needed them has run. The tape is empty afterwards.
 */
export function backward(loss: Tensor, gradOutput?: Tensor, options: BackwardOptions = {}): void {
  onDevice(loss.engine, () => backwardHere(loss, gradOutput, options));
}

/** Options of backward. */
export interface BackwardOptions {
  /**
   * Called once per parameter (leaf) as soon as its gradient is final: no op left on the tape uses
   * it. Data parallelism starts sending a bucket of gradients while backward goes on.
   */
  onGradReady?: (leaf: Tensor) => void;
}

function backwardHere(loss: Tensor, gradOutput: Tensor | undefined, { onGradReady }: BackwardOptions): void {
  if (!gradOutput && loss.size !== 1) {
    throw new OpError('backward', 'the loss must be a scalar, or pass gradOutput of the same shape', {
      loss: loss.shape,
    });
  }
  if (gradOutput && gradOutput.size !== loss.size) {
    throw new OpError('backward', 'gradOutput must match the output', {
      output: loss.shape,
      gradOutput: gradOutput.shape,
    });
  }
  const tape = tapeOf(loss.engine).splice(0);
  const grads = new Map<Tensor, Tensor>();
  const wasEnabled = gradEnabled;
  gradEnabled = false;
  // Uses of each leaf still ahead in the walk, when someone wants to know when a gradient is final.
  const usesLeft = new Map<Tensor, number>();
  if (onGradReady)
    for (const node of tape)
      for (const x of node.inputs) if (x.isLeaf && x.requiresGrad) usesLeft.set(x, (usesLeft.get(x) ?? 0) + 1);
  let i = tape.length - 1;
  try {
    grads.set(loss, gradOutput ? gradOutput.view(loss.shape) : fill(loss.shape, 1));
    for (; i >= 0; i--) {
      const node = tape[i];
      const g = grads.get(node.output);
      if (g) {
        grads.delete(node.output);
        const needs = node.inputs.map((t) => t.requiresGrad);
        const inputGrads = node.backward(g, needs);
        g.dispose();
        node.inputs.forEach((x, j) => {
          const gx = inputGrads[j];
          if (!gx) return;
          if (!needs[j]) return gx.dispose();
          if (gx.size !== x.size)
            throw new OpError(node.op, 'backward rule returned a gradient of the wrong size', {
              input: x.shape,
              grad: gx.shape,
            });
          if (x.isLeaf) {
            if (x.grad) {
              accumulateInto(x.grad, gx);
              gx.dispose();
            } else x.grad = keep(gx.shape.join() === x.shape.join() ? gx : reshapeOwned(gx, x.shape));
          } else {
            const prev = grads.get(x);
            if (prev) {
              accumulateInto(prev, gx);
              gx.dispose();
            } else grads.set(x, gx);
          }
        });
      }
      for (const t of node.saved) t.release();
      if (onGradReady) {
        for (const x of node.inputs) {
          const left = usesLeft.get(x);
          if (left === undefined) continue;
          usesLeft.set(x, left - 1);
          if (left === 1 && x.grad) onGradReady(x);
        }
      }
    }
  } finally {
    gradEnabled = wasEnabled;
    for (const g of grads.values()) g.dispose();
    // On an error part-way, still release what the unvisited nodes saved.
    for (; i >= 0; i--) for (const t of tape[i].saved) t.release();
  }
}

function reshapeOwned(t: Tensor, shape: readonly number[]): Tensor {
  const v = t.view(shape);
  t.dispose();
  return v;
}

/** Runs `fn` without recording anything on the tape (evaluation, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const was = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = was;
  }
}

/** Drops everything recorded so far on the current device (e.g. after a forward pass whose backward is not wanted). */
export function clearTape(): void {
  for (const node of tapeOf().splice(0)) for (const t of node.saved) t.release();
}
