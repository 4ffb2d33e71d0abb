/** A one-line progress bar for the terminal (redrawn in place on a TTY, printed every few seconds otherwise). */
export class ProgressBar {
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly width = 24,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  update(done: number, total: number, label: string, stats: string): void {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(frac * this.width);
    const line = `${label} [${'█'.repeat(filled)}${'░'.repeat(this.width - filled)}] ${done}/${total} ${stats}`;
    const now = Date.now();
    if (this.tty) this.stream.write(`\r\x1b[2K${line}`);
    else if (done === total || now - this.lastPrint > 5000) {
      this.stream.write(`${line}\n`);
      this.lastPrint = now;
    }
  }

  /** Ends the bar's line so that the next message starts on a fresh one. */
  done(): void {
    if (this.tty) this.stream.write('\n');
  }
}
