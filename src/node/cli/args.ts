// Flag parsing shared by the CLIs: typed values, ranges, and errors that name the flag and the fix.
import { forceVariants } from '../../ops/variants.js';
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  help: string;
  default?: string | boolean;
  multiple?: boolean;
}

/** Parses argv strictly: unknown flags and stray positionals are errors. Only given flags are returned. */
export function parseFlags(
  argv: string[],
  specs: Record<string, FlagSpec>,
): Record<string, string | boolean | string[] | undefined> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(specs).map(([k, s]) => [k, { type: s.type, multiple: s.multiple === true }]),
      ),
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length)
      throw new UsageError(`unexpected argument '${positionals[0]}'; flags start with -- (see --help)`);
    return values as Record<string, string | boolean | string[] | undefined>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${(e as Error).message.replace(/\. To specify a positional.*$/s, '')} (see --help)`);
  }
}

export function helpText(title: string, specs: Record<string, FlagSpec>): string {
  const rows = Object.entries(specs).map(([k, s]) => [
    `--${k}${s.type === 'string' ? ' VALUE' : ''}`,
    `${s.help}${s.default !== undefined && s.default !== false ? ` (default: ${s.default})` : ''}`,
  ]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return `${title}\n\n${rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`).join('\n')}\n`;
}

export function num(
  flag: string,
  raw: string,
  check: { int?: boolean; min?: number; max?: number; gt?: number } = {},
): number {
  const v = Number(raw);
  const want = [
    check.int ? 'an integer' : 'a number',
    check.gt !== undefined ? `> ${check.gt}` : '',
    check.min !== undefined ? `≥ ${check.min}` : '',
    check.max !== undefined ? `≤ ${check.max}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  if (
    raw.trim() === '' ||
    !Number.isFinite(v) ||
    (check.int && !Number.isInteger(v)) ||
    (check.min !== undefined && v < check.min) ||
    (check.max !== undefined && v > check.max) ||
    (check.gt !== undefined && !(v > check.gt))
  ) {
    throw new UsageError(`--${flag} ${raw}: must be ${want}`);
  }
  return v;
}

/** "0.485,0.456,0.406" → [0.485, 0.456, 0.406]; each value checked like num(). */
export function numList(flag: string, raw: string, check: { min?: number; gt?: number } = {}): number[] {
  return raw.split(',').map((v) => num(flag, v, check));
}

export function oneOf<T extends string>(flag: string, raw: string, choices: readonly T[]): T {
  if (!choices.includes(raw as T)) throw new UsageError(`--${flag} ${raw}: choose one of ${choices.join(', ')}`);
  return raw as T;
}

/** "256" → [256, 256]; "256:512" → [256, 512]. */
export function scaleRange(flag: string, raw: string): [number, number] {
  const parts = raw.split(':');
  if (parts.length > 2) throw new UsageError(`--${flag} ${raw}: use S or Smin:Smax`);
  const lo = num(flag, parts[0], { int: true, min: 1 });
  const hi = parts.length === 2 ? num(flag, parts[1], { int: true, min: 1 }) : lo;
  if (hi < lo) throw new UsageError(`--${flag} ${raw}: Smax is below Smin`);
  return [lo, hi];
}

/** The --variants flag that train, eval and bench share. */
export const VARIANTS_FLAG: FlagSpec = {
  type: 'string',
  help: 'force kernel variants, e.g. conv_forward=direct-c8p8r1,gemm=vec4-m8n8 (default: the fastest, timed once per adapter)',
};

/** Applies --variants (if given), turning a bad spec into a usage error. */
export function applyVariants(spec: unknown): void {
  if (typeof spec !== 'string') return;
  try {
    forceVariants(spec);
  } catch (e) {
    throw new UsageError(`--variants: ${(e as Error).message}`);
  }
}

/** The --tune-budget flag that train and eval share. */
export const TUNE_BUDGET_FLAG: FlagSpec = {
  type: 'string',
  help: 'seconds of kernel timing before a run starts (largest layers first; the rest run their default variant until a later run times them), or inf',
  default: '120 (VGGPU_TUNE_BUDGET)',
};

/** Applies --tune-budget (if given) for this process, as VGGPU_TUNE_BUDGET. */
export function applyTuneBudget(raw: unknown): void {
  if (typeof raw !== 'string') return;
  if (raw !== 'inf') num('tune-budget', raw, { min: 0 });
  process.env.VGGPU_TUNE_BUDGET = raw;
}
