// The shape of the source tree: no import cycles in src/ (type-only imports included: a cycle of
// types still ties two modules together for a reader); an engine core that imports nothing from
// Node outside the Node host (src/node/) and bundles for a browser; kernels compiled in, current.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { GENERATED, generateKernelModule } from '../tools/gen_kernels.js';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : n.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier a file imports or re-exports (static forms; dynamic imports too). */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms)) out.push(m[1]);
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]);
  return out;
}

/** The src/ import graph: file → the src/ files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of tsFiles(src)) {
    const deps = specifiers(f)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolve(dirname(f), s.replace(/\.js$/, '.ts')));
    graph.set(f, deps);
  }
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself): the cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(relative(root, w));
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

describe('source tree', () => {
  it('has no import cycles in src/', () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(50);
    expect(cycles(graph)).toEqual([]);
  });

  it('imports nothing from Node outside the Node host (src/node/)', () => {
    const nodeOnly = /^(node:|webgpu$|sharp$|koffi$|pngjs$|jpeg-js$|worker_threads$|fs$|path$|os$)/;
    const offenders: string[] = [];
    const core = tsFiles(src).filter((f) => !f.startsWith(join(src, 'node') + sep));
    expect(core.length).toBeGreaterThan(40);
    for (const f of core)
      for (const s of specifiers(f)) if (nodeOnly.test(s)) offenders.push(`${relative(root, f)} imports ${s}`);
    // Nor does the core reach into the host by a relative path.
    for (const [f, deps] of importGraph())
      if (core.includes(f))
        for (const d of deps)
          if (d.startsWith(join(src, 'node') + sep))
            offenders.push(`${relative(root, f)} imports ${relative(root, d)}`);
    expect(offenders).toEqual([]);
    expect(readFileSync(join(src, 'index.ts'), 'utf8')).not.toMatch(/process\.|globalThis\.process/);
  });

  it('bundles the engine core (src/index.ts) and the browser entry (src/browser/index.ts) for a browser', async () => {
    for (const entry of ['index.ts', 'browser/index.ts']) {
      const r = await build({
        entryPoints: [join(src, entry)],
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
        metafile: true,
      });
      expect(r.errors).toEqual([]);
      const inputs = Object.keys(r.metafile.inputs);
      expect(inputs.some((i) => i.includes('kernel_sources'))).toBe(true); // the kernels travel inside
      expect(inputs.filter((i) => i.includes('node_modules') || i.includes('src/node/'))).toEqual([]);
      expect(r.outputFiles[0].text.length).toBeGreaterThan(100_000);
    }
  });

  it('carries kernels/*.wgsl as they are (src/gpu/kernel_sources.ts is current; `npm run kernels` remakes it)', () => {
    expect(
      readFileSync(GENERATED, 'utf8') === generateKernelModule(),
      'src/gpu/kernel_sources.ts is stale: run `npm run kernels`',
    ).toBe(true);
  });

  it('finds a cycle when there is one (the checker itself)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(cycles(g).map((c) => c.length)).toEqual([3]);
  });
});
