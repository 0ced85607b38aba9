// The GPU kit's last phase: one summary of the phases' JSON files (what ran, what failed, the
// conv passes' best GFLOPS in release and safe mode, the training steps' images/s) and ours ÷
// PyTorch's on the same machine, as text and as summary.json. Needs no GPU.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface ConvFile {
  results: Array<{
    layer: string;
    pass: string;
    chosen: string;
    variants: Record<string, { ms: number; gflops: number }>;
  }>;
  skipped: string[];
}
interface StepCase {
  name?: string;
  batch: number;
  size?: number;
  width?: number;
  classes?: number;
  imagesPerSec?: number;
  error?: string;
  skipped?: string;
}
interface TorchFile {
  skipped?: string;
  device?: string;
  size?: number;
  cases?: Array<{ batch: number; mode: string; imagesPerSec?: number; error?: string; skipped?: string }>;
}

/** Prints the summary, writes summary.json, and returns the exit status: 1 when a phase failed or left no results. */
export function report(outDir: string): number {
  const read = <T>(name: string): T | null => {
    const f = join(outDir, `${name}.json`);
    try {
      return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as T) : null;
    } catch {
      return null;
    }
  };
  const lines: string[] = [];
  const problems: string[] = [];
  const info = read<{ adapter: string; scale: string; deviceLimits: Record<string, number> }>('info');
  lines.push(`adapter: ${info?.adapter ?? '(no info.json)'}; scale: ${info?.scale ?? '?'}`);
  if (!info) problems.push('info: no results');

  const check = read<{ ok: boolean; checked: string[]; failures: string[]; large: { skipped: string[] } }>('check');
  if (!check) problems.push('check: no results (it crashed or ran out of time: see kit.log)');
  else {
    lines.push(
      `self-check: ${check.ok ? 'PASSED' : 'FAILED'}: ${check.checked.length} kernels and pass/variant pairs checked, ${check.failures.length} failures${check.large.skipped.length ? `, ${check.large.skipped.length} large-layer variants left out by the budget` : ''}`,
    );
    for (const f of check.failures.slice(0, 10)) lines.push(`  ${f}`);
    if (!check.ok) problems.push('check: failures');
  }

  const release = read<ConvFile>('conv-release');
  const safe = read<ConvFile>('conv-safe');
  if (!release) problems.push('conv (release mode): no results');
  const best = (r: ConvFile['results'][number]) => r.variants[r.chosen];
  const summaryConv: unknown[] = [];
  if (release) {
    lines.push('conv passes of VGG-16 (best variant; GFLOPS; safe-mode time ÷ release-mode time of the same variant):');
    for (const r of release.results) {
      const s = safe?.results.find((q) => q.layer === r.layer && q.pass === r.pass);
      const sameVariant = s?.variants[r.chosen];
      const ratio = sameVariant ? sameVariant.ms / best(r).ms : undefined;
      summaryConv.push({
        layer: r.layer,
        pass: r.pass,
        variant: r.chosen,
        gflops: best(r).gflops,
        safeOverRelease: ratio,
      });
      lines.push(
        `  ${r.layer.padEnd(14)} ${r.pass.padEnd(16)} ${r.chosen.padEnd(14)} ${best(r).gflops.toFixed(0).padStart(7)}  ${ratio ? `×${ratio.toFixed(2)}` : ''}`,
      );
    }
    if (release.skipped.length) lines.push(`  not timed (budget): ${release.skipped.join(', ')}`);
  }

  const step = read<{ cases: StepCase[] }>('step');
  const torch = read<TorchFile>('torch');
  const summarySteps: unknown[] = [];
  if (!step) problems.push('step: no results');
  else {
    lines.push('training steps (forward, backward, SGD update):');
    for (const c of step.cases) {
      if (c.imagesPerSec === undefined) {
        lines.push(`  batch ${c.batch}: ${c.error ? `FAILED ${c.error}` : c.skipped}`);
        if (c.error) problems.push(`step batch ${c.batch}: ${c.error}`);
        continue;
      }
      // Ours ÷ theirs only where the nets are the same: full width, 1000 classes, the same image size and batch.
      const comparable = c.width === 1 && c.classes === 1000 && torch?.size === c.size;
      const peer = (mode: string) =>
        comparable ? torch?.cases?.find((t) => t.batch === c.batch && t.mode === mode)?.imagesPerSec : undefined;
      const [fp32, tf32] = [peer('fp32'), peer('tf32')];
      summarySteps.push({
        name: c.name,
        batch: c.batch,
        imagesPerSec: c.imagesPerSec,
        torchFp32: fp32,
        torchTf32: tf32,
        oursOverTorchFp32: fp32 && c.imagesPerSec / fp32,
        oursOverTorchTf32: tf32 && c.imagesPerSec / tf32,
      });
      const vs = [
        fp32 && `${(c.imagesPerSec / fp32).toFixed(2)}× PyTorch fp32 (${fp32.toFixed(1)})`,
        tf32 && `${(c.imagesPerSec / tf32).toFixed(2)}× PyTorch TF32 (${tf32.toFixed(1)})`,
      ]
        .filter(Boolean)
        .join(', ');
      lines.push(
        `  ${c.name}: ${c.imagesPerSec.toFixed(1)} img/s${vs ? `; ${vs}` : comparable ? '' : '; no PyTorch figure for the same net, size and batch'}`,
      );
    }
  }
  if (!torch) lines.push('PyTorch baseline: no results');
  else if (torch.skipped) lines.push(`PyTorch baseline: skipped (${torch.skipped})`);
  else
    lines.push(
      `PyTorch baseline on ${torch.device}, ${torch.size}²: ${(torch.cases ?? []).map((t) => `batch ${t.batch} ${t.mode} ${t.imagesPerSec?.toFixed(1) ?? t.error ?? t.skipped}`).join('; ')}`,
    );

  lines.push(problems.length ? `PROBLEMS: ${problems.join('; ')}` : 'every phase ran');
  console.log(lines.join('\n'));
  writeFileSync(
    join(outDir, 'summary.json'),
    `${JSON.stringify({ adapter: info?.adapter, scale: info?.scale, check: check && { ok: check.ok, checked: check.checked.length, failures: check.failures }, conv: summaryConv, steps: summarySteps, torch, problems }, null, 2)}\n`,
  );
  return problems.length ? 1 : 0;
}
