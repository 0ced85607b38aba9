// Element index for 1-D work launched as a 2-D grid of 256-wide workgroups
// (so more than 65535 workgroups fit in one dispatch).
fn flatIndex(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}
