/** A one-line progress bar on stderr with rate and ETA; plain lines when stderr is not a terminal. */
export class ProgressBar {
  private start = Date.now();
  private lastPrint = 0;
  /** Progress at the first update (a resumed run starts mid-way): rates count only the work done here. */
  private first: number | null = null;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
  ) {}

  update(done: number, extra = ''): void {
    const now = Date.now();
    const tty = process.stderr.isTTY;
    if (done < this.total && now - this.lastPrint < (tty ? 100 : 2000)) return;
    this.lastPrint = now;
    if (this.first === null) {
      this.first = done;
      this.start = now;
    }
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? (done - this.first) / elapsed : 0;
    const eta = rate > 0 ? Math.max(0, this.total - done) / rate : Infinity;
    const width = 24;
    // Adaptive samplers (dopri5) may take more steps than planned: the bar stays full, never overflows.
    const filled = Math.min(width, Math.max(0, Math.round((done / this.total) * width)));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `${this.label} ${bar} ${done}/${this.total} ${formatRate(rate, this.unit)} ETA ${formatTime(eta)}${extra ? ` ${extra}` : ''}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${done >= this.total ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  }
}

function formatRate(rate: number, unit: string): string {
  if (!(rate > 0)) return `-- ${unit}/s`;
  return rate >= 1 ? `${rate.toFixed(2)} ${unit}/s` : `${(1 / rate).toFixed(2)} s/${unit}`;
}

function formatTime(s: number): string {
  if (!Number.isFinite(s)) return '--';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${Math.round(s % 60)}s` : `${s.toFixed(1)}s`;
}
