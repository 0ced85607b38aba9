// 2x2 max-pool, stride 2, floor for odd sizes (an odd last row/column is dropped, as in PyTorch).
// The backward recomputes each window's argmax (first maximum in row-major order), so no index
// tensor is saved, and each input element is written exactly once (no atomics, deterministic).
struct Params { n: u32, H: u32, W: u32, xOff: u32, yOff: u32, dyOff: u32, dxOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

@group(0) @binding(1) var<storage, read> x: array<f32>;

// Position (0..3) of the first maximum in the window whose top-left input index is `base`.
fn argmax4(base: u32) -> u32 {
  var best = x[base];
  var at = 0u;
  let v1 = x[base + 1u];
  if (v1 > best) { best = v1; at = 1u; }
  let v2 = x[base + P.W];
  if (v2 > best) { best = v2; at = 2u; }
  let v3 = x[base + P.W + 1u];
  if (v3 > best) { at = 3u; }
  return at;
}

// One invocation per output element; n = planes * (H/2) * (W/2).
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let Ho = P.H / 2u;
  let Wo = P.W / 2u;
  let plane = i / (Ho * Wo);
  let q = i % (Ho * Wo);
  let base = P.xOff + plane * P.H * P.W + (q / Wo) * 2u * P.W + (q % Wo) * 2u;
  let a = argmax4(base);
  y[P.yOff + i] = x[base + (a / 2u) * P.W + a % 2u];
}

// One invocation per window; n = planes * (H/2) * (W/2). Writes the window's four input
// gradients (an odd last row/column, outside every window, is zeroed by the launcher).
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let Ho = P.H / 2u;
  let Wo = P.W / 2u;
  let plane = i / (Ho * Wo);
  let q = i % (Ho * Wo);
  let rel = plane * P.H * P.W + (q / Wo) * 2u * P.W + (q % Wo) * 2u;
  let a = argmax4(P.xOff + rel);
  let g = dy[P.dyOff + i];
  let d = P.dxOff + rel;
  dx[d] = select(0.0, g, a == 0u);
  dx[d + 1u] = select(0.0, g, a == 1u);
  dx[d + P.W] = select(0.0, g, a == 2u);
  dx[d + P.W + 1u] = select(0.0, g, a == 3u);
}
