import { bar, formatBytes, formatDuration } from '../client/format.js';
import type { EndedEvent, FileInfo, UploadSnapshot } from '../client/node.js';

interface Row { upload: UploadSnapshot; state: 'uploading' | 'done' | EndedEvent['reason'] }

/**
 * The live table of `upwire watch`: redrawn in place on a terminal (at most 4 times a second),
 * plain event lines otherwise (for logs and tests).
 */
export class WatchView {
  readonly #rows = new Map<string, Row>();
  #drawn = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: NodeJS.WriteStream) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  snapshot(uploads: UploadSnapshot[]): void {
    for (const upload of uploads) this.#rows.set(upload.md5, { upload, state: 'uploading' });
    if (!this.tty) this.out.write(`snapshot ${uploads.length} upload(s) in progress\n`);
    for (const upload of uploads) this.#line('progress', upload);
    this.#schedule();
  }

  progress(upload: UploadSnapshot): void {
    this.#rows.set(upload.md5, { upload, state: 'uploading' });
    this.#line('progress', upload);
    this.#schedule();
  }

  complete(file: FileInfo): void {
    const row = this.#rows.get(file.md5);
    if (row) row.state = 'done';
    if (!this.tty) this.out.write(`complete ${file.md5} ${JSON.stringify(file.name)} ${file.size} bytes\n`);
    this.#schedule();
  }

  ended({ md5, reason, code }: EndedEvent): void {
    const row = this.#rows.get(md5);
    if (row) row.state = reason;
    if (!this.tty) this.out.write(`ended ${md5} ${reason}${code ? ` ${code}` : ''}\n`);
    this.#schedule();
  }

  message(text: string): void {
    this.out.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
    this.#drawn = 0;
  }

  close(): void {
    clearTimeout(this.#timer);
    if (this.tty) this.#draw();
  }

  #line(kind: string, u: UploadSnapshot): void {
    if (this.tty) return;
    const percent = u.size === 0 ? 100 : (100 * u.bytes) / u.size;
    this.out.write(`${kind} ${u.md5} ${JSON.stringify(u.name)} ${u.received}/${u.total} chunks ${percent.toFixed(1)}% ` +
      `${formatBytes(u.rate)}/s clients=${u.clients.length}\n`);
  }

  #schedule(): void {
    if (!this.tty || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, 250);
  }

  #draw(): void {
    const width = this.out.columns ?? 100;
    const lines = [`${'name'.padEnd(28)} ${'size'.padStart(10)} ${'progress'.padEnd(26)} ${'speed'.padStart(12)} ${'ETA'.padStart(6)} clients`];
    for (const { upload: u, state } of this.#rows.values()) {
      const percent = u.size === 0 ? 100 : (100 * u.bytes) / u.size;
      const eta = state === 'uploading' && u.rate > 0 ? (u.size - u.bytes) / u.rate : null;
      const status = state === 'uploading' ? `${bar(percent, 18)} ${percent.toFixed(0).padStart(3)}%` : state.padEnd(23);
      lines.push(`${truncate(u.name, 28).padEnd(28)} ${formatBytes(u.size).padStart(10)} ${status.padEnd(26)} ` +
        `${state === 'uploading' ? `${formatBytes(u.rate)}/s` : ''}`.padStart(12) + ` ${state === 'uploading' ? formatDuration(eta) : ''}`.padStart(7) +
        ` ${u.clients.length}`);
    }
    if (this.#rows.size === 0) lines.push('(no uploads in progress)');
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : '';
    this.out.write(`${up}${lines.map((l) => `\r\x1b[2K${l.slice(0, width - 1)}`).join('\n')}\n`);
    this.#drawn = lines.length;
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
