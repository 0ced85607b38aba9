// f32 GPU tensors: a shape over a pooled storage buffer, reference-counted so that the tape can
// keep saved activations alive after the user has disposed of them. A tensor lives on the device
// that was current when it was made, and keeps that device's engine.
import { type Engine, engine } from './engine.js';
import { checkShape, fmtShape, OpError, type Shape } from './errors.js';

/** Open `tidy` scopes, innermost last; each collects the tensors created inside it (process-wide, whatever the device). */
const scopes: Set<Tensor>[] = [];

/** A GPU buffer shared by a tensor and its reshaped views; returned to the pool at zero refs. */
class Storage {
  refs = 1;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
    readonly size: number,
  ) {}
  retain(): void {
    this.refs++;
  }
  /** Drops a reference taken with retain(). */
  release(): void {
    if (this.refs <= 0) throw new Error('tensor storage released twice');
    if (--this.refs === 0) this.engine.rt.pool.release(this.buffer);
  }
}

/** Number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** An f32 tensor on the GPU: a shape over a pooled, reference-counted buffer. */
export class Tensor {
  readonly size: number;
  /** Set on tensors whose gradient `backward()` should compute. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor (a parameter), filled by `backward()`. */
  grad: Tensor | null = null;
  /** False once an op has produced this tensor on the tape. */
  isLeaf = true;
  private disposed = false;

  private constructor(
    readonly shape: Shape,
    private readonly storage: Storage,
  ) {
    this.size = sizeOf(shape);
    scopes.at(-1)?.add(this);
  }

  /** The engine of the device holding this tensor. */
  get engine(): Engine {
    return this.storage.engine;
  }

  /** An uninitialised tensor; kernels that write every element use this for outputs. */
  static empty(shape: Shape, label = 'tensor'): Tensor {
    checkShape(label, 'shape', shape);
    const size = sizeOf(shape);
    const e = engine();
    const buffer = e.rt.createBuffer(size * 4, `${label} ${fmtShape(shape)}`);
    return new Tensor([...shape], new Storage(e, buffer, size));
  }

  /** A tensor holding `data` (row-major for `shape`). */
  static from(data: ArrayLike<number>, shape: Shape): Tensor {
    checkShape('Tensor.from', 'shape', shape);
    if (data.length !== sizeOf(shape)) {
      throw new OpError('Tensor.from', `${data.length} values do not fill the shape`, { shape });
    }
    const t = Tensor.empty(shape);
    t.write(data instanceof Float32Array ? data : Float32Array.from(data));
    return t;
  }

  /** A one-element tensor. */
  static scalar(value: number): Tensor {
    return Tensor.from([value], [1]);
  }

  get buffer(): GPUBuffer {
    if (this.storage.refs <= 0) throw new Error(`tensor ${fmtShape(this.shape)} used after dispose`);
    return this.storage.buffer;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The values, in row-major order of `shape` (N,C,H,W for activations). */
  async toArray(): Promise<Float32Array> {
    return this.engine.rt.read(this.buffer, 0, this.size);
  }

  /** Overwrites the values (row-major, `size` of them) on the tensor's own device. */
  write(data: Float32Array): void {
    if (data.length !== this.size)
      throw new OpError('Tensor.write', `${data.length} values for ${this.size} elements`, { shape: this.shape });
    this.engine.rt.write(this.buffer, 0, data);
  }

  /** A view with another shape over the same storage (no copy). Not differentiable; see ops/reshape. */
  view(shape: Shape): Tensor {
    checkShape('view', 'shape', shape);
    if (sizeOf(shape) !== this.size) throw new OpError('view', 'sizes differ', { from: this.shape, to: shape });
    this.storage.retain();
    return new Tensor([...shape], this.storage);
  }

  /** Keeps the storage alive for the tape (paired with `release`). */
  retain(): this {
    this.storage.retain();
    return this;
  }
  /** Drops a reference taken with retain(). */
  release(): void {
    this.storage.release();
  }

  /** Gives the tensor back; safe to call twice. Its gradient is disposed too. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    this.grad?.dispose();
    this.grad = null;
    scopes.at(-1)?.delete(this);
  }

  /** e.g. `Tensor[2, 3]`. */
  toString(): string {
    return `Tensor${fmtShape(this.shape)}`;
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns (a tensor, or an
 * array/object of tensors), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  for (const t of scope) if (!kept.has(t)) t.dispose();
  const parent = scopes.at(-1);
  if (parent) for (const t of kept) if (scope.has(t)) parent.add(t);
  return result;
}

/** Removes `t` from the current scope so `tidy` will not dispose it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) v.forEach((x) => collectTensors(x, out));
  else if (v && typeof v === 'object' && !(v instanceof Promise))
    Object.values(v).forEach((x) => collectTensors(x, out));
}
