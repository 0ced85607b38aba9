// Inverted dropout with a counter-based hash: element i of a call with seed s is kept when
// hash(s, i) >= p, and scaled by 1/(1-p). The backward recomputes the same mask (nothing saved).
struct Params { n: u32, aOff: u32, yOff: u32, base: u32, seed: u32, p: f32, scale: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//#include flat_index.wgsl

fn lowbias32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u; h *= 0x7feb352du;
  h ^= h >> 15u; h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

// Shared by forward (a = x) and backward (a = dy): y = a * mask / (1 - p).
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let u = f32(lowbias32((P.base + i) ^ lowbias32(P.seed)) >> 8u) * (1.0 / 16777216.0);
  y[P.yOff + i] = select(0.0, a[P.aOff + i] * P.scale, u >= P.p);
}
