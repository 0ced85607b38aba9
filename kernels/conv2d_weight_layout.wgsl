// Rearranges conv weights W[Cout, Cin, KS, KS] for conv2d_direct.wgsl: WT[c, t, m], m padded to Mp with zeros.
//   forward (FLIP false): c = input channel, m = output channel mOff + m   (t = ky*KS + kx)
//   input gradient (FLIP true): c = output channel, m = input channel mOff + m, taps reversed
// Baked: KS, FLIP.
// The bound source starts at this launch's first W row (wOff); dOff is where its WT rows go.
struct LayoutParams { Cin: u32, Mp: u32, count: u32, mOff: u32, wOff: u32, dOff: u32, total: u32 }
@group(0) @binding(0) var<uniform> L: LayoutParams;
@group(0) @binding(1) var<storage, read> wsrc: array<f32>;
@group(0) @binding(2) var<storage, read_write> wdst: array<f32>;

//#include flat_index.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= L.total) { return; }
  let KK = KS * KS;
  let m = i % L.Mp;
  let t = (i / L.Mp) % KK;
  let c = i / (L.Mp * KK);
  var v = 0.0;
  if (m < L.count) {
    if (FLIP) {
      v = wsrc[L.wOff + (c * L.Cin + L.mOff + m) * KK + (KK - 1u - t)];
    } else {
      v = wsrc[L.wOff + ((L.mOff + m) * L.Cin + c) * KK + t];
    }
  }
  wdst[L.dOff + i] = v;
}
