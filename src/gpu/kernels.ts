// WGSL kernels, compiled into the package (kernel_sources.ts, generated from kernels/ by
// `npm run kernels`), with compile-time constants baked in. A kernel file may
// `//#include other.wgsl` (e.g. the shared tiled-GEMM body); the cache key names every constant.
import { KERNEL_SOURCES, type KernelFile, KERNELS_FINGERPRINT } from './kernel_sources.js';

export type { KernelFile } from './kernel_sources.js';

/** Compile-time constants baked into a kernel's source (and its pipeline cache key). */
export type BakedConstants = Record<string, number | boolean>;

const expanded = new Map<string, string>();

function readKernel(name: string): string {
  let text = expanded.get(name);
  if (text === undefined) {
    const file = name.replace(/\.wgsl$/, '');
    if (!(file in KERNEL_SOURCES))
      throw new Error(`no kernel named "${file}" (kernels: ${Object.keys(KERNEL_SOURCES).join(', ')})`);
    text = KERNEL_SOURCES[file as KernelFile].replace(/^\/\/#include\s+(\S+)\s*$/gm, (_, inc: string) =>
      readKernel(inc),
    );
    expanded.set(name, text);
  }
  return text;
}

/** A scalar field of a kernel's uniform block. */
export interface UniformField {
  name: string;
  type: 'u32' | 'i32' | 'f32';
}

const uniformLayouts = new Map<string, UniformField[]>();

/**
 * The fields of the struct a kernel binds as its uniform block (`var<uniform> P: Params`), in
 * order: launchers pass uniforms by these names, and the runtime packs them (4 bytes each).
 */
export function uniformFields(name: string): UniformField[] {
  let fields = uniformLayouts.get(name);
  if (!fields) {
    const text = readKernel(name);
    const type = /var<uniform>\s+\w+\s*:\s*(\w+)\s*;/.exec(text)?.[1];
    const body = type && new RegExp(`struct\\s+${type}\\s*\\{([^}]*)\\}`).exec(text)?.[1];
    if (!body) throw new Error(`kernel ${name}: no uniform struct found`);
    fields = body
      .replace(/\/\/.*$/gm, '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => {
        const m = /^(\w+)\s*:\s*(\w+)$/.exec(f);
        if (!m || !['u32', 'i32', 'f32'].includes(m[2]))
          throw new Error(`kernel ${name}: uniform field "${f}" is not a u32, i32 or f32 scalar`);
        return { name: m[1], type: m[2] as UniformField['type'] };
      });
    uniformLayouts.set(name, fields);
  }
  return fields;
}

/** A short hash of every kernel's source: kernel timings made with other sources are stale. */
export function kernelsFingerprint(): string {
  return KERNELS_FINGERPRINT;
}

/**
 * WGSL source with `const NAME = value;` lines prepended, and a cache key naming them all. A kernel
 * of hooks for a GEMM body (a `//#body` line) gets `body` composed in there.
 */
export function kernelSource(
  name: string,
  constants: BakedConstants,
  body?: KernelFile,
): { key: string; code: string } {
  const names = Object.keys(constants).sort();
  const decls = names.map((n) => {
    const v = constants[n];
    if (typeof v === 'boolean') return `const ${n} = ${v};`;
    if (!Number.isFinite(v)) throw new Error(`kernel ${name}: constant ${n} = ${v} is not finite`);
    return Number.isInteger(v) && v >= 0 ? `const ${n} = ${v}u;` : `const ${n} = ${v.toPrecision(9)}f;`;
  });
  const key = `${name}${body ? `+${body}` : ''}(${names.map((n) => `${n}=${constants[n]}`).join(',')})`;
  const code = `${decls.join('\n')}\n${selectBlocks(name, composeBody(name, readKernel(name), body), constants)}`;
  return { key, code: constants.UNROLL === true ? unrollLoops(name, code) : code };
}

/** The kernel's text with `body` in place of its `//#body` line (which it must have exactly when a body is given). */
function composeBody(name: string, text: string, body: KernelFile | undefined): string {
  const slot = /^\/\/#body\s*$/m;
  if (!slot.test(text)) {
    if (body) throw new Error(`kernel ${name} takes no GEMM body (given ${body})`);
    return text;
  }
  if (!body) throw new Error(`kernel ${name} needs a GEMM body`);
  return text.replace(slot, () => readKernel(body));
}

const LOOP = /for \(var (\w+) = 0u; \1 < (\w+); \1\+\+\) \{/g;
const MAX_UNROLLED = 4 << 20;

/**
 * Source-level unrolling, for variants baked with UNROLL = true: every
 * `for (var i = 0u; i < N; i++) { … }` whose bound N is a literal or a `const` of literals and
 * baked constants becomes N copies of its body (each in its own block) with i replaced by 0u, 1u, …
 * Compilers that do not unroll loops themselves (SwiftShader's) then still keep register tiles in
 * registers. Innermost loops go first: the last loop in the text has none after it, so none inside.
 * Loops with a `break` or `continue` stay loops.
 */
export function unrollLoops(name: string, code: string): string {
  const values = constValues(code);
  const bound = (b: string) => (/^\d+u$/.test(b) ? parseInt(b, 10) : values.get(b));
  const bodyEnd = (open: number) => {
    let depth = 0;
    for (let i = open; i < code.length; i++) {
      if (code[i] === '{') depth++;
      else if (code[i] === '}' && --depth === 0) return i;
    }
    throw new Error(`kernel ${name}: unbalanced braces after offset ${open}`);
  };
  for (;;) {
    // The last loop that can be unrolled: a constant bound, and no break or continue in it.
    const m = [...code.matchAll(LOOP)].reverse().find((l) => {
      const open = l.index! + l[0].length - 1;
      return bound(l[2]) !== undefined && !/\b(break|continue)\b/.test(code.slice(open, bodyEnd(open)));
    });
    if (!m) return code;
    const open = m.index! + m[0].length - 1;
    const close = bodyEnd(open);
    const body = code.slice(open + 1, close);
    const counter = new RegExp(`\\b${m[1]}\\b`, 'g');
    const copies = Array.from({ length: bound(m[2])! }, (_, v) => `{${body.replace(counter, `${v}u`)}}`).join('\n');
    code = code.slice(0, m.index) + copies + code.slice(close + 1);
    if (code.length > MAX_UNROLLED)
      throw new Error(`kernel ${name}: unrolled source exceeds ${MAX_UNROLLED} characters; use a smaller tile`);
  }
}

/** The integer value of an expression of literals and the `values` named, or undefined. */
function evalInteger(expr: string, values: ReadonlyMap<string, number>): number | undefined {
  const arith = expr
    .replace(/\b(\d+)u\b/g, '$1')
    .replace(/\b[A-Za-z_]\w*\b/g, (w) => (values.has(w) ? String(values.get(w)) : 'NaN'));
  return /^[\d\s+\-*/()]+$/.test(arith) ? Math.trunc(Function(`return (${arith});`)() as number) : undefined;
}

/** The integer `const`s of a kernel's source (baked constants and those computed from them). */
function constValues(code: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const [, id, expr] of code.matchAll(/^\s*const (\w+) = ([^;]+);/gm)) {
    const v = evalInteger(expr, values);
    if (v !== undefined) values.set(id, v);
  }
  return values;
}

const SCALAR_BYTES: Record<string, number> = {
  f32: 4,
  u32: 4,
  i32: 4,
  f16: 2,
  vec2f: 8,
  vec4f: 16,
  vec2u: 8,
  vec4u: 16,
  vec2i: 8,
  vec4i: 16,
  'vec4<f32>': 16,
  'vec2<f32>': 8,
};

/**
 * What an entry point asks of the adapter's workgroup limits: its workgroup size, and the
 * workgroup memory of every `var<workgroup>` in the module (all of them: an upper bound for one
 * entry). For checking a dispatch against a device's limits before any compiler sees it.
 */
export function workgroupFootprint(
  name: string,
  code: string,
  entry: string,
): { size: [number, number, number]; workgroupBytes: number } {
  const values = constValues(code);
  const attr = new RegExp(`@workgroup_size\\(([^)]*)\\)\\s*fn\\s+${entry}\\s*\\(`).exec(code);
  if (!attr) throw new Error(`kernel ${name}: no @workgroup_size for entry point ${entry}`);
  const dims = attr[1].split(',').map((e) => evalInteger(e.trim(), values));
  if (dims.some((d) => d === undefined))
    throw new Error(`kernel ${name}: workgroup size (${attr[1]}) is not a constant expression`);
  const size = [dims[0]!, dims[1] ?? 1, dims[2] ?? 1] as [number, number, number];
  const typeBytes = (t: string): number => {
    t = t.trim();
    if (t in SCALAR_BYTES) return SCALAR_BYTES[t];
    const m = /^array<(.+),([^,>]+)>$/.exec(t);
    const count = m ? evalInteger(m[2].trim(), values) : undefined;
    if (!m || count === undefined) throw new Error(`kernel ${name}: cannot size workgroup type ${t}`);
    return typeBytes(m[1]) * count;
  };
  let workgroupBytes = 0;
  for (const [, type] of code.matchAll(/var<workgroup>\s+\w+\s*:\s*([^;]+);/g)) workgroupBytes += typeBytes(type);
  return { size, workgroupBytes };
}

/**
 * Keeps the lines of `//#if NAME` … `//#else` … `//#endif` blocks (NAME a baked boolean) that
 * apply: WGSL has no conditional declarations, and a binding's type may depend on a constant.
 */
function selectBlocks(name: string, text: string, constants: BakedConstants): string {
  if (!text.includes('//#if')) return text;
  const out: string[] = [];
  const stack: boolean[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\/\/#(if|else|endif)\b\s*(\S*)/.exec(line);
    if (!m) {
      if (stack.every(Boolean)) out.push(line);
      continue;
    }
    if (m[1] === 'if') {
      if (typeof constants[m[2]] !== 'boolean')
        throw new Error(`kernel ${name}: //#if ${m[2]} needs a baked boolean constant`);
      stack.push(constants[m[2]] as boolean);
    } else if (!stack.length) throw new Error(`kernel ${name}: //#${m[1]} without //#if`);
    else if (m[1] === 'else') stack.push(!stack.pop());
    else stack.pop();
  }
  if (stack.length) throw new Error(`kernel ${name}: //#if without //#endif`);
  return out.join('\n');
}
