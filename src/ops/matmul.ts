// Matrix products: the public `matmul` op and the strided launcher that the fully-connected layer
// uses for all three of its passes. Variants (variants.ts, pass "gemm"): `vec4-TMxTN` (8x8, 16x16,
// 32x8: kernels/matmul_vec4.wgsl, 16-byte loads, when the strides allow; `-unrolled`: the same with
// its loops unrolled in the source, on core-feature adapters), and on kernels/matmul.wgsl
// (any strides) `tiled` (register-tiled body) and `shared` (workgroup-memory body, for GPUs).
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { launchGemm, SHARED_TILE, sharedGemmFits, workgroupShape } from './gemm.js';
import { chooseVariant } from './variants.js';

/** A matrix operand: element (i, j) is at tensor[start + i·s0 + j·s1], covering `count` elements from start. */
export interface Operand {
  t: Tensor;
  start: number;
  count: number;
  s0: number;
  s1: number;
}

export interface StridedMatmul {
  M: number;
  N: number;
  K: number;
  /** A[m, k]. */
  a: Operand;
  /** B[k, n]. */
  b: Operand;
  /** C[m, n] at start + m·s0 + n (s1 must be 1). */
  c: Operand;
  /** bias[n] at bias.start + n. */
  bias?: { t: Tensor; start: number; count: number };
  relu?: boolean;
  accumulate?: boolean;
  label: string;
}

/** How each operand can be read four values at a time, or null when the strides do not allow it. */
function vec4Layout(p: StridedMatmul): { aAlongK: boolean; bAlongN: boolean } | null {
  const { a, b, M, N, K } = p;
  if (K % 4 || a.start % 4 || b.start % 4) return null;
  const aAlongK = a.s1 === 1 && a.s0 % 4 === 0;
  const aAlongM = a.s0 === 1 && a.s1 % 4 === 0 && M % 4 === 0;
  const bAlongN = b.s1 === 1 && b.s0 % 4 === 0 && N % 4 === 0;
  const bAlongK = b.s0 === 1 && b.s1 % 4 === 0;
  if (!(aAlongK || aAlongM) || !(bAlongN || bAlongK)) return null;
  return { aAlongK, bAlongN };
}

/** The shape key and applicable variants of a matmul (the default first). */
export function matmulVariants(p: StridedMatmul): { shape: string; candidates: string[] } {
  const v = vec4Layout(p);
  const layout = `a${p.a.s1 === 1 ? 'k' : 'm'} b${p.b.s1 === 1 ? 'n' : 'k'}`;
  const scalar = !sharedGemmFits() ? ['tiled'] : engine().rt.adapter.isCpu ? ['tiled', 'shared'] : ['shared', 'tiled'];
  // Tiles unrolled in the source, for core-feature adapters whose compilers may not unroll them
  // (SwiftShader's does not; GLES llvmpipe's does, so they are not offered there).
  const unrolled = engine().rt.adapter.featureLevel === 'core' ? ['vec4-8x8-unrolled', 'vec4-16x16-unrolled'] : [];
  return { shape: `${p.M}x${p.N}x${p.K} ${layout}`, candidates: v ? ['vec4-8x8', 'vec4-16x16', 'vec4-32x8', ...unrolled, ...scalar] : scalar };
}

/** C (+)= A·B (+ bias) (ReLU) over strided views; every operand must fit one binding. */
export function stridedMatmul(p: StridedMatmul, variant?: string): void {
  const rt = engine().rt;
  if (p.c.s1 !== 1) throw new OpError('matmul', 'output rows must be contiguous');
  const { shape, candidates } = matmulVariants(p);
  variant ??= chooseVariant('gemm', shape, candidates, { pass: 'gemm', gemm: { M: p.M, N: p.N, K: p.K, aAlongK: p.a.s1 === 1, bAlongN: p.b.s1 === 1 } });
  const ar = rt.range(p.a.t.buffer, p.a.start, p.a.count);
  const br = rt.range(p.b.t.buffer, p.b.start, p.b.count);
  const cr = rt.range(p.c.t.buffer, p.c.start, p.c.count);
  const biasr = p.bias ? rt.range(p.bias.t.buffer, p.bias.start, p.bias.count) : rt.unused;
  const flags = { HAS_BIAS: !!p.bias, RELU: !!p.relu, ACCUMULATE: !!p.accumulate };
  const operands = { aOff: ar.elemOffset, aSm: p.a.s0, aSk: p.a.s1, bOff: br.elemOffset, bSk: p.b.s0, bSn: p.b.s1, cOff: cr.elemOffset, cSm: p.c.s0, biasOff: biasr.elemOffset };
  const m = /^vec4-(\d+)x(\d+)(-unrolled)?$/.exec(variant);
  if (m) {
    const v = vec4Layout(p);
    if (!v) throw new OpError('matmul', `variant ${variant} needs 16-byte-aligned operands (${shape})`);
    const [TM, TN] = [+m[1], +m[2]];
    const { WG_X, WG_Y } = workgroupShape(p.M, TM);
    rt.dispatch({
      kernel: 'matmul_vec4',
      constants: { TM, TN, WG_X, WG_Y, A_ALONG_K: v.aAlongK, B_ALONG_N: v.bAlongN, ...flags, ...(m[3] ? { UNROLL: true } : {}) },
      uniforms: { M: p.M, N: p.N, K: p.K, kChunk: p.K, ...operands, cSplit: 0 },
      buffers: [ar, br, biasr, cr],
      workgroups: [Math.ceil(p.N / (TN * WG_X)), Math.ceil(p.M / (TM * WG_Y)), 1],
      label: p.label,
    });
    return;
  }
  if (variant !== 'tiled' && variant !== 'shared') throw new OpError('matmul', `unknown variant "${variant}"`);
  launchGemm({
    kernel: 'matmul',
    label: p.label,
    M: p.M,
    N: p.N,
    K: p.K,
    uniforms: operands,
    buffers: [ar, br, biasr, cr],
    constants: flags,
    tile: variant === 'shared' ? SHARED_TILE : undefined,
  });
}

/** Row-major operand covering a whole [rows, cols] tensor (transposed: element (i, j) = t[j, i]). */
export function whole(t: Tensor, transposed = false): Operand {
  const cols = t.shape[1];
  return transposed ? { t, start: 0, count: t.size, s0: 1, s1: cols } : { t, start: 0, count: t.size, s0: cols, s1: 1 };
}

/** a [M, K] · b [K, N] → [M, N]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) {
    throw new OpError('matmul', 'needs a [M, K] and b [K, N]', { a: a.shape, b: b.shape });
  }
  const [M, K] = a.shape;
  const N = b.shape[1];
  const y = Tensor.empty([M, N], 'matmul');
  stridedMatmul({ M, N, K, a: whole(a), b: whole(b), c: whole(y), label: `matmul ${a}·${b}` });
  record('matmul', [a, b], y, [a, b], (g, needs) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      da = Tensor.empty(a.shape, 'matmul dA');
      stridedMatmul({ M, N: K, K: N, a: whole(g), b: whole(b, true), c: whole(da), label: `matmul dA ${g}·${b}ᵀ` });
    }
    if (needs[1]) {
      db = Tensor.empty(b.shape, 'matmul dB');
      stridedMatmul({ M: K, N, K: M, a: whole(a, true), b: whole(g), c: whole(db), label: `matmul dB ${a}ᵀ·${g}` });
    }
    return [da, db];
  });
  return y;
}
