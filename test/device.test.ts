import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { uniformFields } from '../src/gpu/kernels.js';
import { conv2d, engine, fillInPlace, GpuError, init, relu, scale, Tensor, tidy } from '../src/node/index.js';

beforeAll(async () => {
  await init();
});

describe('device', () => {
  it('reports the adapter and backend it picked, and asks for the adapter’s limits', () => {
    const rt = engine().rt;
    expect(rt.describe()).toMatch(/^(vulkan|metal|d3d12|opengles) \((core|compatibility)\): /);
    const a = rt.adapter.adapter.limits;
    expect(rt.limits.maxStorageBufferBindingSize).toBe(a.maxStorageBufferBindingSize);
    expect(rt.limits.maxBufferSize).toBe(a.maxBufferSize);
    expect(rt.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    if (rt.adapter.backend === 'opengles') expect(rt.adapter.featureLevel).toBe('compatibility');
  });

  it('turns a GPU validation error into a thrown error naming the kernel launch', async () => {
    const rt = engine().rt;
    const t = Tensor.from([1, 2, 3, 4], [4]);
    // The fill entry point binds one buffer; passing two is a validation error.
    const r = rt.range(t.buffer, 0, 4);
    rt.dispatch({
      kernel: 'elementwise',
      entry: 'fill',
      uniforms: { n: 4, aOff: 0, bOff: 0, yOff: 0, value: 1 },
      buffers: [r, r],
      workgroups: [1],
      label: 'deliberately bad fill [4]',
    });
    const err = await rt.sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuError);
    expect((err as Error).message).toMatch(/deliberately bad fill \[4\]/);
    // The engine keeps working afterwards.
    expect(Array.from(await t.toArray())).toEqual([1, 2, 3, 4]);
  });

  it('packs uniforms by the names of the kernel’s struct, refusing a missing, extra or mistyped one', async () => {
    const rt = engine().rt;
    const t = Tensor.from([1, 2, 3, 4], [4]);
    const r = rt.range(t.buffer, 0, 4);
    const fill = (uniforms: Record<string, number>) =>
      rt.dispatch({
        kernel: 'elementwise',
        entry: 'fill',
        uniforms,
        buffers: [r],
        workgroups: [1],
        label: 'fill test',
      });
    expect(() => fill({ n: 4, aOff: 0, bOff: 0, yOff: 0 })).toThrowError(
      /fill test: kernel elementwise needs uniform value \(f32\)/,
    );
    expect(() => fill({ n: 4, aOff: 0, bOff: 0, yOff: 0, value: 1, count: 4 })).toThrowError(
      /kernel elementwise has no uniform count \(its fields: n, aOff, bOff, yOff, value\)/,
    );
    expect(() => fill({ n: -4, aOff: 0, bOff: 0, yOff: 0, value: 1 })).toThrowError(
      /uniform n = -4 of kernel elementwise is not a u32/,
    );
    expect(() => fill({ n: 4, aOff: 0, bOff: 0, yOff: 0, value: NaN })).toThrowError(
      /uniform value = NaN .* is not a finite f32/,
    );
    // Order comes from the struct, not from the object: fields given in another order land right.
    fill({ value: 2.5, yOff: 0, bOff: 0, aOff: 0, n: 3 });
    expect(Array.from(await t.toArray())).toEqual([2.5, 2.5, 2.5, 4]);
    t.dispose();
  });

  it('reads the uniform struct of every kernel that has one', () => {
    const dir = join(import.meta.dirname, '..', 'kernels');
    const withUniforms = readdirSync(dir).filter((f) => /var<uniform>/.test(readFileSync(join(dir, f), 'utf8')));
    expect(withUniforms.length).toBeGreaterThan(15);
    for (const f of withUniforms) expect(uniformFields(f.replace('.wgsl', '')).length, f).toBeGreaterThan(2);
    expect(uniformFields('conv2d_direct').slice(0, 2)).toEqual([
      { name: 'M', type: 'u32' },
      { name: 'C', type: 'u32' },
    ]);
    expect(uniformFields('sgd').at(-1)).toEqual({ name: 'wd', type: 'f32' });
  });

  it('refuses a buffer beyond the adapter’s maxBufferSize with the sizes and a fix', () => {
    const max = engine().rt.limits.maxBufferSize;
    const n = Math.ceil(max / 4) + 1024;
    expect(() => Tensor.empty([n], 'huge')).toThrowError(
      /huge \[\d+\]: needs a .* buffer but the adapter allows at most .*; use a smaller batch or width/,
    );
  });

  it('reuses bind groups when a step repeats its dispatches, and drops them when buffers are destroyed', async () => {
    const rt = engine().rt;
    const x = Tensor.from([1, -2, 3, -4, 5], [5]);
    const step = async () => {
      await rt.sync(); // each step starts at uniform slot 0, as a training step does after its read-back
      const y = tidy(() => relu(scale(x, 2)));
      const out = await y.toArray();
      y.dispose();
      return Array.from(out);
    };
    // The pool hands buffers back in a different order on alternate steps: two patterns.
    for (let i = 0; i < 3; i++) expect(await step()).toEqual([2, 0, 6, 0, 10]);
    const made = rt.bindGroupsCreated;
    for (let i = 0; i < 3; i++) expect(await step()).toEqual([2, 0, 6, 0, 10]);
    expect(rt.bindGroupsCreated).toBe(made);
    rt.pool.trim();
    expect(await step()).toEqual([2, 0, 6, 0, 10]);
    expect(rt.bindGroupsCreated).toBeGreaterThan(made);
    x.dispose();
  });

  it('precompiles the pipelines a function would use without running anything', async () => {
    const rt = engine().rt;
    const t = Tensor.from([1, 2, 3], [3]);
    const x = Tensor.from(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    const w = Tensor.from(new Float32Array(4 * 3 * 5 * 5), [4, 3, 5, 5]);
    const b = Tensor.from([0, 0, 0, 0], [4]);
    const dispatches = rt.dispatchCount;
    // A 5×5 "same" convolution bakes constants no other test uses: its pipelines are new.
    const compiled = await rt.precompile(() => {
      conv2d(x, w, b, { padding: 2 }).dispose();
      fillInPlace(t, 7);
    });
    expect(compiled).toBeGreaterThanOrEqual(1);
    expect(rt.dispatchCount).toBe(dispatches);
    expect(Array.from(await t.toArray())).toEqual([1, 2, 3]);
    expect(await rt.precompile(() => conv2d(x, w, b, { padding: 2 }).dispose())).toBe(0);
    [t, x, w, b].forEach((v) => v.dispose());
  });

  it('counts live, pooled and allocated bytes, and reuses released buffers', () => {
    const pool = engine().rt.pool;
    const before = pool.stats();
    const a = Tensor.empty([1000]);
    const mid = pool.stats();
    expect(mid.liveBuffers).toBe(before.liveBuffers + 1);
    a.dispose();
    const b = Tensor.empty([1000]);
    expect(pool.stats().allocatedBytes).toBe(mid.allocatedBytes);
    b.dispose();
    expect(pool.stats().liveBuffers).toBe(before.liveBuffers);
  });

  it('reads back exactly what was written, and refuses use after dispose', async () => {
    const data = Float32Array.from({ length: 1001 }, (_, i) => i * 0.5 - 7);
    const t = Tensor.from(data, [7, 11, 13]);
    expect(Array.from(await t.toArray())).toEqual(Array.from(data));
    t.dispose();
    expect(() => t.buffer).toThrowError(/used after dispose/);
    expect(() => Tensor.from([1, 2, 3], [2, 2])).toThrowError(
      /Tensor.from: 3 values do not fill the shape \(shape \[2, 2\]\)/,
    );
    expect(() => Tensor.empty([2, 0])).toThrowError(/shape must be a list of positive integers/);
  });
});
