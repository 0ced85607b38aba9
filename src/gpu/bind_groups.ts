// Bind groups, cached: a training step repeats its dispatches with the same uniform slots and
// (from the buffer pool) the same buffers, so later steps reuse the groups the first one made.
import type { Dispatch } from './dispatch.js';

export class BindGroupCache {
  private groups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  /** Bind groups made so far. */
  created = 0;

  /** Binding 0 of every group is the dispatch's slot of `uniforms` (slots of `slotBytes`). */
  constructor(
    private device: GPUDevice,
    private uniforms: GPUBuffer,
    private slotBytes: number,
  ) {}

  /** The group for a dispatch's uniform slot and bound ranges, keyed by pipeline, slot and ranges. */
  get(pipeline: GPUComputePipeline, slot: number, d: Dispatch): GPUBindGroup {
    const id = (b: GPUBuffer) => {
      let n = this.bufferIds.get(b);
      if (n === undefined) {
        n = this.nextBufferId++;
        this.bufferIds.set(b, n);
      }
      return n;
    };
    const key = `${pipeline.label}|${slot}|${d.buffers.map((r) => `${id(r.buffer)}:${r.byteOffset}:${r.byteSize}`).join(',')}`;
    let group = this.groups.get(key);
    if (!group) {
      const entries: GPUBindGroupEntry[] = [
        { binding: 0, resource: { buffer: this.uniforms, offset: slot * this.slotBytes, size: this.slotBytes } },
      ];
      d.buffers.forEach((r, i) =>
        entries.push({ binding: i + 1, resource: { buffer: r.buffer, offset: r.byteOffset, size: r.byteSize } }),
      );
      group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label: d.label });
      if (this.groups.size >= 8192) this.groups.clear(); // an unbounded stream of new shapes
      this.groups.set(key, group);
      this.created++;
    }
    return group;
  }

  /** Forgets every group (the pool destroyed buffers they bind). */
  clear(): void {
    this.groups.clear();
  }
}
