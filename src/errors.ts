// Errors that name the op and the shapes involved, so a user can find their mistake.

/** A tensor shape: sizes of each dimension, outermost first. */
export type Shape = readonly number[];

/** An op called with bad arguments; the message names the op and the shapes involved. */
export class OpError extends Error {
  constructor(op: string, problem: string, shapes: Record<string, Shape | number | string> = {}) {
    const parts = Object.entries(shapes).map(([k, v]) => `${k} ${Array.isArray(v) ? fmtShape(v) : String(v)}`);
    super(`${op}: ${problem}${parts.length ? ` (${parts.join(', ')})` : ''}`);
    this.name = 'OpError';
  }
}

/** True when two shapes have the same dimensions. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmtShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/** Throws unless `shape` is a list of positive integers. */
export function checkShape(op: string, what: string, shape: Shape): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new OpError(op, `${what} must be a list of positive integers`, { [what]: shape });
  }
}
