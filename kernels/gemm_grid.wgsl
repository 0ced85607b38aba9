// A GEMM's output tile (x along n, y along m) from its workgroup's place in a grid that the
// launcher (ops/gemm.ts gemmGrid) folds when there are more tiles along n than one grid
// dimension holds: x then runs over ceil(tilesN / f) and y over tilesM·f. Tiles past the last
// (x ≥ tilesN) come from the fold's rounding; callers skip them.
fn gemmTile(wg: vec3u, nwg: vec3u, tilesM: u32) -> vec2u {
  return vec2u(wg.x + nwg.x * (wg.y / tilesM), wg.y % tilesM);
}
