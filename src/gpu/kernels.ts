// Loads WGSL kernels from kernels/ and bakes compile-time constants into them. A kernel file may
// `//#include other.wgsl` (e.g. the shared tiled-GEMM body); the cache key names every constant.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** Compile-time constants baked into a kernel's source (and its pipeline cache key). */
export type BakedConstants = Record<string, number | boolean>;

function findKernelDir(): string {
  // src/gpu/kernels.ts and dist/src/gpu/kernels.js both sit two levels below a folder holding kernels/.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const dir = join(here, up, 'kernels');
    try {
      readFileSync(join(dir, 'gemm_body.wgsl'));
      return dir;
    } catch {
      /* try the next candidate */
    }
  }
  throw new Error(`cannot find the kernels/ folder near ${here}; is the package installed completely?`);
}

let kernelDir: string | null = null;
const files = new Map<string, string>();

function readKernel(name: string): string {
  let text = files.get(name);
  if (text === undefined) {
    kernelDir ??= findKernelDir();
    text = readFileSync(join(kernelDir, name.endsWith('.wgsl') ? name : `${name}.wgsl`), 'utf8');
    text = text.replace(/^\/\/#include\s+(\S+)\s*$/gm, (_, inc: string) => readKernel(inc));
    files.set(name, text);
  }
  return text;
}

let fingerprint: string | null = null;

/** A short hash of every kernel's source: kernel timings made with other sources are stale. */
export function kernelsFingerprint(): string {
  if (fingerprint === null) {
    kernelDir ??= findKernelDir();
    const hash = createHash('sha256');
    for (const f of readdirSync(kernelDir).filter((n) => n.endsWith('.wgsl')).sort()) hash.update(f).update(readFileSync(join(kernelDir, f)));
    fingerprint = hash.digest('hex').slice(0, 12);
  }
  return fingerprint;
}

/** WGSL source with `const NAME = value;` lines prepended, and a cache key naming them all. */
export function kernelSource(name: string, constants: BakedConstants): { key: string; code: string } {
  const names = Object.keys(constants).sort();
  const decls = names.map((n) => {
    const v = constants[n];
    if (typeof v === 'boolean') return `const ${n} = ${v};`;
    if (!Number.isFinite(v)) throw new Error(`kernel ${name}: constant ${n} = ${v} is not finite`);
    return Number.isInteger(v) && v >= 0 ? `const ${n} = ${v}u;` : `const ${n} = ${v.toPrecision(9)}f;`;
  });
  const key = `${name}(${names.map((n) => `${n}=${constants[n]}`).join(',')})`;
  return { key, code: `${decls.join('\n')}\n${selectBlocks(name, readKernel(name), constants)}` };
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
      if (typeof constants[m[2]] !== 'boolean') throw new Error(`kernel ${name}: //#if ${m[2]} needs a baked boolean constant`);
      stack.push(constants[m[2]] as boolean);
    } else if (!stack.length) throw new Error(`kernel ${name}: //#${m[1]} without //#if`);
    else if (m[1] === 'else') stack.push(!stack.pop());
    else stack.pop();
  }
  if (stack.length) throw new Error(`kernel ${name}: //#if without //#endif`);
  return out.join('\n');
}
