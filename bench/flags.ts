// The bench's flags (apart from the bench, which runs when imported, so the docs check can read them).
export const BENCH_FLAGS: Record<string, string> = {
  filter: 'only the cases whose "group name" contains TEXT',
  json: 'print JSON instead of the table; with FILE, also write it there',
  quick: 'a subset (32×32, width ¼): a few minutes on the CPU fallback',
  smoke: 'one small case of every group, once, untuned: that it runs (CI)',
  variants: 'force kernel variants, e.g. conv_forward=direct-c8p8r1',
  verbose: 'show Dawn’s start-up messages',
};
