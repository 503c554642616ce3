import type { Phase, Progress, UploadResult, Uploader, UpwireError } from '../client/browser.js';
import { formatBytes, formatDuration } from '../client/format.js';

export type RowPhase = Phase | 'queued' | 'instant' | 'cancelled';

const PHASE_LABEL: Record<RowPhase, string> = {
  queued: 'queued', hashing: 'hashing', connecting: 'connecting', uploading: 'uploading', paused: 'paused',
  verifying: 'verifying', retrying: 'retrying', done: 'done', failed: 'failed', instant: 'instant', cancelled: 'cancelled',
};

/** What a person should read for each failure: never a silent stall. */
export function describeError(error: UpwireError): string {
  switch (error.code) {
    case 'E_TOO_LARGE': return `Refused by the server: ${error.message}.`;
    case 'E_UNAUTHORIZED': return 'The server refused the token.';
    case 'E_CHECKSUM': return 'Checksum mismatch: the file changed while it was uploading, so nothing was stored. Try again.';
    case 'E_NO_SPACE': return 'The server is out of disk space. Try again later.';
    case 'E_UNREACHABLE': return 'The server cannot be reached. Check the connection and drop the file again to resume.';
    case 'E_FILE': return `This file cannot be read: ${error.message}.`;
    case 'E_ABORTED': return 'Cancelled. Drop the file again to resume where it stopped.';
    default: return `Failed: ${error.message} (${error.code}).`;
  }
}

/** One file's line in the list, kept in step with its uploader's events. */
export class UploadRow {
  readonly element: HTMLLIElement;
  #hashBar: HTMLProgressElement;
  #uploadBar: HTMLProgressElement;
  #stats: HTMLElement;
  #message: HTMLElement;
  #pause: HTMLButtonElement;
  #cancel: HTMLButtonElement;
  /** Times the file was hashed for this row: 0 when its md5 came from the hash cache (tests read it). */
  #hashPasses = 0;

  constructor(file: File, template: HTMLTemplateElement) {
    this.element = (template.content.firstElementChild as HTMLLIElement).cloneNode(true) as HTMLLIElement;
    const $ = <T extends Element>(selector: string) => this.element.querySelector<T>(selector)!;
    $<HTMLElement>('.name').textContent = file.name;
    $<HTMLElement>('.name').title = file.name;
    $<HTMLElement>('.size').textContent = formatBytes(file.size);
    this.#hashBar = $('.hash-bar');
    this.#uploadBar = $('.upload-bar');
    this.#stats = $('.stats');
    this.#message = $('.message');
    this.#pause = $('.pause');
    this.#cancel = $('.cancel');
    this.#hashBar.setAttribute('aria-label', `hashing ${file.name}`);
    this.#uploadBar.setAttribute('aria-label', `uploading ${file.name}`);
    this.setPhase('queued');
    this.element.dataset.hashPasses = '0';
  }

  /** Wires the buttons and events of the uploader that now runs this row. */
  attach(uploader: Uploader, onCancel: () => void): void {
    this.#pause.onclick = () => {
      if (uploader.phase === 'paused') uploader.resume();
      else uploader.pause();
    };
    this.#cancel.onclick = onCancel;
    uploader.on('phase', (phase) => {
      if (phase === 'hashing') this.element.dataset.hashPasses = String(++this.#hashPasses);
      this.setPhase(phase);
    });
    uploader.on('hash-progress', (p) => this.#progress(this.#hashBar, p));
    let resumedShown = false;
    uploader.on('progress', (p) => {
      this.#hashBar.value = 100;
      if (!resumedShown && p.bytes > 0 && p.bytes < p.size) this.#message.textContent = `Resuming: ${formatBytes(p.bytes)} already on the server.`;
      resumedShown = true;
      this.#progress(this.#uploadBar, p);
    });
    uploader.on('retry', ({ attempt, error }) => {
      this.#message.textContent = error.code === 'E_CHECKSUM'
        ? `The server found other content than the checksum says; starting over, attempt ${attempt}…`
        : `Connection lost (${error.message}); retrying, attempt ${attempt}…`;
    });
  }

  setPhase(phase: RowPhase): void {
    this.element.dataset.phase = phase;
    this.element.querySelector('.phase')!.textContent = PHASE_LABEL[phase];
    this.#pause.textContent = phase === 'paused' ? 'Resume' : 'Pause';
    this.#pause.hidden = !['uploading', 'paused'].includes(phase);
    this.#cancel.hidden = ['done', 'instant', 'failed', 'cancelled'].includes(phase);
    if (phase === 'uploading' && this.#message.textContent?.startsWith('Connection lost')) this.#message.textContent = '';
  }

  completed(result: UploadResult): void {
    this.element.dataset.md5 = result.md5;
    this.element.dataset.chunksSent = String(result.chunksSent);
    this.element.dataset.md5Cached = String(result.md5Cached);
    this.#hashBar.value = 100;
    this.#uploadBar.value = 100;
    this.#stats.textContent = '';
    if (result.instant) {
      this.setPhase('instant');
      this.#message.textContent = 'Already on the server: nothing to send.';
    } else {
      this.setPhase('done');
      this.#message.textContent = `Stored and verified (md5 ${result.md5}).`;
    }
  }

  failed(error: UpwireError): void {
    this.element.dataset.error = error.code;
    this.#stats.textContent = '';
    this.setPhase(error.code === 'E_ABORTED' ? 'cancelled' : 'failed');
    this.#message.textContent = describeError(error);
  }

  #progress(bar: HTMLProgressElement, p: Progress): void {
    bar.value = p.percent;
    this.#stats.textContent = `${p.percent.toFixed(0)}% · ${formatBytes(p.speed)}/s · ${formatDuration(p.eta)} left`;
  }
}
