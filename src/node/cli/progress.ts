// A one-line progress bar on a terminal; periodic plain lines when output goes to a file.

export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export class Progress {
  private lastLine = 0;
  private readonly tty = process.stderr.isTTY === true;

  update(label: string, done: number, total: number, extra: string): void {
    const now = Date.now();
    if (this.tty) {
      const width = 30;
      const filled = Math.round((done / Math.max(total, 1)) * width);
      process.stderr.write(
        `\r${label} [${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}] ${done}/${total} ${extra}\x1b[K`,
      );
    } else if (now - this.lastLine > 30_000 || done === total) {
      process.stderr.write(`${label} ${done}/${total} ${extra}\n`);
      this.lastLine = now;
    }
  }

  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}
