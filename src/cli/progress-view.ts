import type { Progress } from '../client/meter.js';
import { bar, formatBytes, formatDuration } from '../client/format.js';

/**
 * One status line per file on stderr: redrawn in place (at most ~10 times a second) on a TTY,
 * and on a pipe or log only at phase changes and every 25%, so logs stay readable.
 */
export class ProgressView {
  #lastDraw = 0;
  #lastQuarter = -1;
  /** The file's last line was written (done, failed): an event that comes later draws nothing under it. */
  #ended = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly label: string,
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  update(phase: 'hashing' | 'uploading', progress: Progress): void {
    if (this.#ended) return;
    const text = `${phase === 'hashing' ? 'hash  ' : 'upload'} ${this.label} ${progress.percent.toFixed(1).padStart(5)}% ` +
      `${formatBytes(progress.bytes)}/${formatBytes(progress.size)} ${formatBytes(progress.speed)}/s ETA ${formatDuration(progress.eta)}`;
    if (this.tty) {
      const now = Date.now();
      if (now - this.#lastDraw < 100 && progress.bytes < progress.size) return;
      this.#lastDraw = now;
      const width = Math.max(10, Math.min(30, (this.out.columns ?? 80) - text.length - 4));
      this.out.write(`\r\x1b[2K${bar(progress.percent, width)} ${text}`);
    } else {
      const quarter = Math.floor(progress.percent / 25);
      if (quarter === this.#lastQuarter) return;
      this.#lastQuarter = quarter;
      this.out.write(`${text}\n`);
    }
  }

  /** The file's last line: its result or its failure. */
  end(text: string): void {
    this.line(text);
    this.#ended = true;
  }

  /** A line that stays: a retry, the result or the failure. */
  line(text: string): void {
    this.#lastQuarter = -1;
    this.out.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }
}
