// `npm run bench` group "winograd": per 3×3 layer of VGG (224² at width ¼, batch 1; 32² at width
// ¼, batch 32), the forward and input-gradient passes on the fastest Winograd variant against the
// fastest other variant, both chosen by the tuner's timings and timed again here in one run.
import { Tensor } from '../src/node/index.js';
import { convForward, convGradInput, type ConvPass, convVariants } from '../src/ops/conv2d.js';
import { tuneConv } from '../src/ops/tune.js';
import { tuningsForAdapter } from '../src/ops/variants.js';
import { planLayers, resolveConfig } from '../src/vgg/config.js';

type Timer = (
  group: string,
  name: string,
  fn: () => Tensor | Tensor[] | undefined,
  counts: { flops?: number },
  v?: { variant: string },
) => Promise<{ ms: number; detail?: string } | null>;

const SETTINGS = [
  { label: '224 b1 w¼', size: 224, batch: 1, width: 0.25 },
  { label: '32 b32 w¼', size: 32, batch: 32, width: 0.25 },
];

/** The fastest timed candidate of `pass` on a shape among those `which` accepts (untimed: the first). */
function fastest(pass: ConvPass, shape: string, candidates: string[], which: (v: string) => boolean): string {
  const ms = tuningsForAdapter()[`${pass} ${shape}`]?.ms ?? {};
  const mine = candidates.filter(which);
  return mine.reduce((best, v) => ((ms[v] ?? Infinity) < (ms[best] ?? Infinity) ? v : best), mine[0]);
}

export async function benchWinograd(
  time: Timer,
  T: (shape: number[], seed?: number) => Tensor,
  smoke: boolean,
): Promise<void> {
  for (const s of smoke ? SETTINGS.slice(1) : SETTINGS) {
    const seen = new Set<string>();
    for (const l of planLayers(resolveConfig({ net: 'E', inputSize: s.size, width: s.width }))) {
      if (l.kind !== 'conv' || l.kernel !== 3) continue;
      const key = `${l.inChannels}→${l.outChannels} ${l.size}²`;
      if (seen.has(key) || (smoke && seen.size === 1)) continue;
      seen.add(key);
      const x = T([s.batch, l.inChannels, l.size, l.size]);
      const w = T([l.outChannels, l.inChannels, 3, 3], 2);
      const b = T([l.outChannels], 3);
      const dy = T([s.batch, l.outChannels, l.size, l.size], 4);
      const flops = 2 * s.batch * l.outChannels * l.inChannels * 9 * l.size ** 2;
      const runs: Record<'conv_forward' | 'conv_grad_input', (v: string) => Tensor> = {
        conv_forward: (v) => {
          const y = Tensor.empty(dy.shape);
          convForward(x, w, b, y, true, 1, v);
          return y;
        },
        conv_grad_input: (v) => convGradInput(dy, w, x.shape, 1, v),
      };
      for (const pass of ['conv_forward', 'conv_grad_input'] as const) {
        if (pass === 'conv_grad_input' && l.inChannels === 3) continue;
        if (!smoke) await tuneConv([{ x: x.shape, w: w.shape, pad: 1 }], [pass]);
        const { shape, candidates } = convVariants(pass, x.shape, w.shape, 1);
        const wino = fastest(pass, shape, candidates, (v) => v.startsWith('winograd'));
        const other = fastest(pass, shape, candidates, (v) => !v.startsWith('winograd'));
        if (!wino || !other) continue;
        const group = `winograd ${s.label}`;
        const what = `${s.label} ${key} ${pass === 'conv_forward' ? 'forward' : 'input-grad'}`;
        const base = await time(group, `${what} best other`, () => runs[pass](other), { flops }, { variant: other });
        const win = await time(group, `${what} Winograd`, () => runs[pass](wino), { flops }, { variant: wino });
        if (base && win) win.detail = `×${(base.ms / win.ms).toFixed(2)} vs ${other}`;
      }
      [x, w, b, dy].forEach((t) => t.dispose());
    }
  }
}
