// Matrix products: the public `matmul` op and the strided launcher that the fully-connected layer
// uses for all three of its passes, each running a row of the GEMM table (GEMM_TABLE below).
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { GEMM_BODIES, type GemmBody, gemmGrid, launchGemm, maxKChunk, workgroupShape } from './gemm.js';
import { applicable, chooseVariant, type Variant, variantNamed } from './variants.js';
import { checkTensor } from './args.js';

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

/**
 * The GEMM table. `vec4-mTMnTN` (kernels/matmul_vec4.wgsl): TM rows × TN columns of C per
 * invocation, 16-byte loads, when the strides allow; `-unrolled`: the same with its loops unrolled
 * in the source, on core-feature adapters (SwiftShader's compiler does not unroll; GLES llvmpipe's
 * does, so they are not offered there). Then kernels/matmul.wgsl (any strides) on each GEMM body:
 * `gemm-reg`, `gemm-wg` (ops/gemm.ts).
 */
export const GEMM_TABLE: ReadonlyArray<Variant<StridedMatmul, StridedMatmul>> = [
  ...(
    [
      [8, 8, false],
      [16, 16, false],
      [32, 8, false],
      [8, 8, true],
      [16, 16, true],
    ] as const
  ).map(
    ([TM, TN, unrolled], k): Variant<StridedMatmul, StridedMatmul> => ({
      name: `vec4-m${TM}n${TN}${unrolled ? '-unrolled' : ''}`,
      // One invocation loops over all of K, four at a time.
      applies: (p) =>
        vec4Layout(p) !== null &&
        (!unrolled || engine().rt.adapter.featureLevel === 'core') &&
        p.K / 4 <= engine().rt.loopLimit,
      rank: () => k,
      liveFloats: () => vec4LiveFloats(TM, TN),
      launch: (p) => launchVec4(p, TM, TN, unrolled),
    }),
  ),
  ...GEMM_BODIES.map(
    (body): Variant<StridedMatmul, StridedMatmul> => ({
      name: body.name,
      applies: () => body.applies(),
      rank: () => 10 + body.rank(engine().rt.adapter.isCpu),
      liveFloats: () => body.liveFloats,
      launch: (p) => launchOnBody(p, body),
    }),
  ),
];

/** matmul_vec4's live floats: the TM×TN accumulators and four k of TM rows of A and TN columns of B. */
export const vec4LiveFloats = (TM: number, TN: number) => TM * TN + 4 * TM + 4 * TN;

/** A matmul's shape key: M×N×K and which way A and B are contiguous (every dimension matters, batch included). */
function gemmKey(p: StridedMatmul): string {
  return `${p.M}x${p.N}x${p.K} a${p.a.s1 === 1 ? 'k' : 'm'} b${p.b.s1 === 1 ? 'n' : 'k'}`;
}

/** What the GEMM rows' rules read: the sizes, and the strides and alignments vec4 loads need. */
function memoKey(p: StridedMatmul): string {
  return `${p.M} ${p.N} ${p.K} ${p.a.start % 4} ${p.a.s0} ${p.a.s1} ${p.b.start % 4} ${p.b.s0} ${p.b.s1}`;
}

/** The shape key and the names of the variants that apply (the default first). */
export function matmulVariants(p: StridedMatmul): { shape: string; candidates: string[] } {
  return { shape: gemmKey(p), candidates: applicable(GEMM_TABLE, p).map((v) => v.name) };
}

/** C (+)= A·B (+ bias) (ReLU) over strided views; every operand must fit one binding. `variant` names one (else tuned or default). */
export function stridedMatmul(p: StridedMatmul, variant?: string): void {
  if (p.c.s1 !== 1) throw new OpError('matmul', 'output rows must be contiguous');
  const v =
    variant !== undefined
      ? variantNamed('gemm', GEMM_TABLE, variant)
      : chooseVariant('gemm', gemmKey(p), applicable(GEMM_TABLE, p, memoKey(p)), {
          pass: 'gemm',
          gemm: { M: p.M, N: p.N, K: p.K, aAlongK: p.a.s1 === 1, bAlongN: p.b.s1 === 1 },
        });
  v.launch(p);
}

/** The bindings and uniforms both matmul kernels take. */
function operands(p: StridedMatmul) {
  const rt = engine().rt;
  const ar = rt.range(p.a.t.buffer, p.a.start, p.a.count);
  const br = rt.range(p.b.t.buffer, p.b.start, p.b.count);
  const cr = rt.range(p.c.t.buffer, p.c.start, p.c.count);
  const biasr = p.bias ? rt.range(p.bias.t.buffer, p.bias.start, p.bias.count) : rt.unused;
  return {
    buffers: [ar, br, biasr, cr],
    flags: { HAS_BIAS: !!p.bias, RELU: !!p.relu, ACCUMULATE: !!p.accumulate },
    uniforms: {
      aOff: ar.elemOffset,
      aSm: p.a.s0,
      aSk: p.a.s1,
      bOff: br.elemOffset,
      bSk: p.b.s0,
      bSn: p.b.s1,
      cOff: cr.elemOffset,
      cSm: p.c.s0,
      biasOff: biasr.elemOffset,
    },
  };
}

/**
 * On kernels/matmul_vec4.wgsl. With `split`, K runs in `count` equal chunks (multiples of 4) over
 * workgroup z, chunk z's product stored at C + z·cSplit, not summed (Winograd's batched products).
 */
export function launchVec4(
  p: StridedMatmul,
  TM: number,
  TN: number,
  unrolled = false,
  split = { count: 1, cSplit: 0 },
): void {
  const v = vec4Layout(p);
  if (!v) throw new OpError('matmul', `vec4 variants need 16-byte-aligned operands (${gemmKey(p)})`);
  const { buffers, flags, uniforms } = operands(p);
  const { WG_X, WG_Y } = workgroupShape(p.M, TM);
  engine().rt.dispatch({
    kernel: 'matmul_vec4',
    constants: {
      TM,
      TN,
      WG_X,
      WG_Y,
      A_ALONG_K: v.aAlongK,
      B_ALONG_N: v.bAlongN,
      ...flags,
      ...(unrolled ? { UNROLL: true } : {}),
    },
    uniforms: { M: p.M, N: p.N, K: p.K, kChunk: p.K / split.count, ...uniforms, cSplit: split.cSplit },
    buffers,
    workgroups: gemmGrid(Math.ceil(p.N / (TN * WG_X)), Math.ceil(p.M / (TM * WG_Y)), split.count),
    loop: p.K / split.count / 4,
    label: p.label,
  });
}

/**
 * On a GEMM body; a K longer than one invocation may loop over (on this adapter) runs in K
 * chunks that accumulate into C, the bias and ReLU applied with the last (kernels/matmul.wgsl).
 */
function launchOnBody(p: StridedMatmul, body: GemmBody): void {
  const step = maxKChunk(body);
  for (let k0 = 0; k0 < p.K; k0 += step) {
    const K = Math.min(step, p.K - k0);
    const last = k0 + K === p.K;
    const chunk: StridedMatmul = {
      ...p,
      K,
      a: { ...p.a, start: p.a.start + k0 * p.a.s1, count: p.a.count - k0 * p.a.s1 },
      b: { ...p.b, start: p.b.start + k0 * p.b.s0, count: p.b.count - k0 * p.b.s0 },
      bias: last ? p.bias : undefined,
      relu: last && p.relu,
      accumulate: p.accumulate || k0 > 0,
    };
    const { buffers, flags, uniforms } = operands(chunk);
    launchGemm({ kernel: 'matmul', body, label: p.label, M: p.M, N: p.N, K, uniforms, buffers, constants: flags });
  }
}

/** Row-major operand covering a whole [rows, cols] tensor (transposed: element (i, j) = t[j, i]). */
export function whole(t: Tensor, transposed = false): Operand {
  const cols = t.shape[1];
  return transposed ? { t, start: 0, count: t.size, s0: 1, s1: cols } : { t, start: 0, count: t.size, s0: cols, s1: 1 };
}

/** a [M, K] · b [K, N] → [M, N]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
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
