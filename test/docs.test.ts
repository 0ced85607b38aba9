// The README and the guides in docs/ say only what is true of the code: every command they show is
// an npm script that exists, with flags its CLI accepts, every file they run exists, and every
// link between them resolves, anchors included.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCH_FLAGS } from '../bench/flags.js';
import { EVAL_FLAGS } from '../src/node/cli/eval_flags.js';
import { TRAIN_FLAGS } from '../src/node/cli/train_options.js';

const root = join(import.meta.dirname, '..');
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const text = (page: string) => readFileSync(join(root, page), 'utf8');
const scripts = Object.keys(JSON.parse(text('package.json')).scripts as Record<string, string>);
const FLAGS: Record<string, string[]> = {
  train: Object.keys(TRAIN_FLAGS),
  eval: Object.keys(EVAL_FLAGS),
  bench: Object.keys(BENCH_FLAGS),
};

/** Every `npm …` and `npx tsx …` command of a page: code-block lines (comments cut) and inline code. */
function commands(page: string): string[] {
  const out: string[] = [];
  const t = text(page);
  for (const block of t.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)) {
    for (const line of block[1].split('\n')) {
      const cmd = line.replace(/\s+#.*$/, '').trim();
      for (const part of cmd.split(/\s*&&\s*/)) if (/^(npm|npx tsx) /.test(part)) out.push(part);
    }
  }
  for (const m of t.matchAll(/`((?:npm run|npx tsx) [^`]+)`/g)) out.push(m[1]);
  return out;
}

/** GitHub's anchor for a heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

describe('README and guides', () => {
  it('the README is a front page', () => {
    expect(text('README.md').split('\n').length).toBeLessThanOrEqual(150);
    expect(pages.length).toBeGreaterThan(5);
  });

  for (const page of pages) {
    it(`${page}: every command is an npm script with flags its CLI accepts, or a file that exists`, () => {
      const cmds = commands(page);
      const bad: string[] = [];
      for (const cmd of cmds) {
        if (cmd.startsWith('npx tsx ')) {
          const file = cmd.split(/\s+/)[2];
          if (!existsSync(join(root, file))) bad.push(`${cmd}: no file ${file}`);
          continue;
        }
        const words = cmd.split(/\s+/);
        if (words[1] === 'test' || words[1] === 'ci' || words[1] === 'pack' || words[1] === 'install') continue;
        if (words[1] !== 'run') {
          bad.push(`${cmd}: not an npm run command`);
          continue;
        }
        const script = words[2];
        if (!scripts.includes(script)) bad.push(`${cmd}: no npm script "${script}"`);
        const known = FLAGS[script];
        if (!known) continue;
        for (const w of words.slice(3)) {
          const flag = /^--([a-z][a-z0-9-]*)/.exec(w)?.[1];
          if (flag && !known.includes(flag)) bad.push(`${cmd}: ${script} has no flag --${flag}`);
        }
      }
      expect(bad).toEqual([]);
    });

    it(`${page}: every link to a file or heading of the project resolves`, () => {
      const bad: string[] = [];
      for (const m of text(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#');
        const file = path ? resolve(dirname(join(root, page)), path) : join(root, page);
        if (!existsSync(file)) {
          bad.push(`${target}: no such file`);
          continue;
        }
        if (anchor && file.endsWith('.md')) {
          const headings = [...readFileSync(file, 'utf8').matchAll(/^#+ (.*)$/gm)].map((h) => slug(h[1]));
          if (!headings.includes(anchor)) bad.push(`${target}: no heading #${anchor}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }

  it('catches a made-up flag and a broken link (the checks can fail)', () => {
    expect(FLAGS.train).not.toContain('bogus-flag');
    expect(slug('Using PyTorch/torchvision weights')).toBe('using-pytorchtorchvision-weights');
    expect(existsSync(join(root, 'docs', 'no-such-guide.md'))).toBe(false);
  });
});
