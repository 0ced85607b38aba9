// Argument checks shared by the public ops: a call with a missing, disposed or ill-typed argument
// throws an OpError naming the op, the argument and what it expected, before any kernel runs.
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'plain'} object`;
  return typeof v === 'string' ? `the string "${v}"` : `${typeof v} ${String(v)}`;
}

/** Throws unless `value` is a live Tensor. */
export function checkTensor(op: string, arg: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) throw new OpError(op, `${arg} must be a Tensor, got ${describe(value)}`);
  if (value.isDisposed) throw new OpError(op, `${arg} ${value} was disposed; keep it (tidy/keep) until the op has run`);
}

/** Throws unless `value` is a finite number (integer with `integer`). */
export function checkNumber(op: string, arg: string, value: unknown, integer = false): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new OpError(op, `${arg} must be a finite ${integer ? 'integer' : 'number'}, got ${describe(value)}`);
  }
}

/** Throws unless `value` is undefined or a plain options object. */
export function checkOptions(op: string, value: unknown): void {
  if (
    value !== undefined &&
    (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Tensor)
  ) {
    throw new OpError(op, `options must be an object, got ${describe(value)}`);
  }
}

/**
 * The optional bias and the options of `op(x, weight, bias?, options?)`, which PyTorch users also
 * write as `op(x, weight, options)`: a third argument that is not a Tensor (nor null) is the options.
 */
export function biasAndOptions<O extends object>(op: string, third: unknown, fourth: unknown): [Tensor | null, O] {
  if (third === undefined || third === null) {
    checkOptions(op, fourth);
    return [null, (fourth ?? {}) as O];
  }
  if (third instanceof Tensor) {
    checkTensor(op, 'bias', third);
    checkOptions(op, fourth);
    return [third, (fourth ?? {}) as O];
  }
  if (fourth !== undefined) throw new OpError(op, `bias must be a Tensor or null, got ${describe(third)}`);
  checkOptions(op, third);
  return [null, third as O];
}
