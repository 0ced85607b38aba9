// Rearranges conv weights W[Cout, Cin, KS, KS] for conv2d_direct.wgsl: WT[c, t, m], m padded to Mp with zeros.
//   forward (FLIP false): c = input channel, m = output channel mOff + m   (t = ky*KS + kx)
//   input gradient (FLIP true): c = output channel, m = input channel mOff + m, taps reversed
// Each invocation writes one vec4 of a WT row: row c*KK + t is workgroup_id.y, so no index needs
// a division (slow per lane on CPU adapters).
// Baked: KS, FLIP.
// A launch covers WT rows of channels cOff + c (the grid's y is one dimension, so long channel
// ranges take several launches); dOff4 is where its WT rows go (vec4s). The forward binds all of
// W's rows (cOff picks the column); the input gradient binds W rows from cOff on (cOff = 0 here).
struct LayoutParams { Cin: u32, Mp: u32, count: u32, mOff: u32, cOff: u32, wOff: u32, dOff4: u32 }
@group(0) @binding(0) var<uniform> L: LayoutParams;
@group(0) @binding(1) var<storage, read> wsrc: array<f32>;
@group(0) @binding(2) var<storage, read_write> wdst: array<vec4f>;

const KK = KS * KS;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let q = wg.x * 64u + lid.x;  // vec4 index along m
  if (4u * q >= L.Mp) { return; }
  let c = wg.y / KK;
  let t = wg.y % KK;
  var v = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) {
    let m = 4u * q + e;
    if (m < L.count) {
      if (FLIP) {
        v[e] = wsrc[L.wOff + (c * L.Cin + L.mOff + m) * KK + (KK - 1u - t)];
      } else {
        v[e] = wsrc[L.wOff + ((L.mOff + m) * L.Cin + L.cOff + c) * KK + t];
      }
    }
  }
  wdst[L.dOff4 + wg.y * (L.Mp / 4u) + q] = v;
}
