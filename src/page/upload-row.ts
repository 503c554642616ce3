import type { Phase, Progress, UploadResult, Uploader, UpwireError } from '../client/browser.js';
import { formatBytes, formatDuration } from '../client/format.js';
import { announce } from './announcer.js';
import type { Refusal } from './restrictions.js';

/** What a row shows: the uploader's phase, or the queue's word for a file without a running uploader. */
export type RowPhase = Phase | 'queued' | 'instant' | 'cancelled' | 'refused';

const PHASE_LABEL: Record<RowPhase, string> = {
  queued: 'queued', hashing: 'hashing', connecting: 'connecting', uploading: 'uploading', paused: 'paused',
  verifying: 'verifying', retrying: 'retrying', done: 'done', failed: 'failed', instant: 'instant', cancelled: 'cancelled', refused: 'not sent',
};
const ENDED: readonly RowPhase[] = ['done', 'instant', 'failed', 'cancelled', 'refused'];
/** Phases a pause applies to: the hasher, the connection and the sender all wait for a resume. */
const PAUSABLE: readonly RowPhase[] = ['queued', 'hashing', 'connecting', 'uploading', 'retrying'];

/** What a person should read for each failure: never a silent stall, and what to do next. */
export function describeError(error: UpwireError): string {
  switch (error.code) {
    case 'E_TOO_LARGE': return `Refused by the server: ${error.message}.`;
    case 'E_UNAUTHORIZED': return 'The server needs a valid token. Retry to enter it.';
    case 'E_FORBIDDEN': return `Refused by the server: ${error.message}.`;
    case 'E_CHECKSUM': return 'Checksum mismatch: the file changed while it was uploading, so nothing was stored. Retry to send it as it is now.';
    case 'E_NO_SPACE': return 'The server is out of disk space. Retry later.';
    case 'E_UNREACHABLE': return 'The server cannot be reached. Check the connection, then Retry: it resumes where it stopped.';
    case 'E_FILE': return `This file cannot be read: ${error.message}.`;
    case 'E_ABORTED': return 'Cancelled. Retry resumes where it stopped.';
    default: return `Failed: ${error.message} (${error.code}).`;
  }
}

/** Why an attempt failed, in a few words: the message under a "retrying" badge. */
function retryReason(error: UpwireError): string {
  switch (error.code) {
    case 'E_DISCONNECTED': case 'E_UNREACHABLE': case 'E_TIMEOUT': return 'Connection lost';
    case 'E_BUSY': case 'E_RATE_LIMIT': return 'The server is busy';
    case 'E_NO_SPACE': return 'The server is out of disk space';
    case 'E_CONFLICT': return 'Another upload of this file is under way';
    default: return 'The server had a problem';
  }
}

export interface RowActions {
  /** Pause, or resume when paused. */
  togglePause(): void;
  cancel(): void;
  retry(): void;
  remove(): void;
}

/** One file's line in the list, kept in step with its uploader's events. */
export class UploadRow {
  readonly element: HTMLLIElement;
  readonly name: string;
  #hashBar: HTMLProgressElement;
  #uploadBar: HTMLProgressElement;
  #stats: HTMLElement;
  #message: HTMLElement;
  #buttons: { pause: HTMLButtonElement; cancel: HTMLButtonElement; retry: HTMLButtonElement; remove: HTMLButtonElement };
  /** Times the file was hashed for this row: 0 when its md5 came from the hash cache (tests read it). */
  #hashPasses = 0;
  #phase: RowPhase = 'queued';
  #paused = false;
  /** A transient failure was retried and the upload has not moved on since: "connecting" then reads as retrying. */
  #recovering = false;
  #shown: RowPhase | undefined;
  /** Bytes the server has, and the upload's speed now (the overall progress adds them up). */
  bytes = 0;
  speed = 0;

  constructor(file: File, template: HTMLTemplateElement, actions: RowActions) {
    this.element = (template.content.firstElementChild as HTMLLIElement).cloneNode(true) as HTMLLIElement;
    this.name = file.name;
    const $ = <T extends Element>(selector: string) => this.element.querySelector<T>(selector)!;
    $<HTMLElement>('.name').textContent = file.name;
    $<HTMLElement>('.name').title = file.name;
    $<HTMLElement>('.size').textContent = formatBytes(file.size);
    this.#hashBar = $('.hash-bar');
    this.#uploadBar = $('.upload-bar');
    this.#stats = $('.stats');
    this.#message = $('.message');
    this.#buttons = { pause: $('.pause'), cancel: $('.cancel'), retry: $('.retry'), remove: $('.remove') };
    this.#hashBar.setAttribute('aria-label', `Hashing ${file.name}`);
    this.#uploadBar.setAttribute('aria-label', `Uploading ${file.name}`);
    this.#buttons.pause.onclick = () => actions.togglePause();
    this.#buttons.cancel.onclick = () => actions.cancel();
    this.#buttons.retry.onclick = () => actions.retry();
    this.#buttons.remove.onclick = () => actions.remove();
    for (const [action, button] of [['Cancel', this.#buttons.cancel], ['Retry', this.#buttons.retry], ['Remove', this.#buttons.remove]] as const) {
      button.setAttribute('aria-label', `${action} ${file.name}`);
    }
    this.element.dataset.hashPasses = '0';
    this.#render();
  }

  get phase(): RowPhase {
    return this.#phase;
  }

  get ended(): boolean {
    return ENDED.includes(this.#phase);
  }

  /** The phase on screen (data-phase): a pause or a retry said over the uploader's own steps. */
  get shown(): RowPhase {
    return this.#display();
  }

  /** Whether a pause applies now (the queue's Pause all asks). */
  get pausable(): boolean {
    return PAUSABLE.includes(this.#phase);
  }

  /** Follows the uploader that now runs this row (a new one after a Retry). */
  attach(uploader: Uploader): void {
    uploader.on('phase', (phase) => {
      // The end is the queue's to say (completed, failed): it knows instant from done, and the failure's message.
      if (phase === 'done' || phase === 'failed') return;
      if (phase === 'hashing') this.element.dataset.hashPasses = String(++this.#hashPasses);
      if (phase === 'uploading' || phase === 'verifying') this.#recovering = false;
      this.#phase = phase;
      this.#render();
    });
    uploader.on('hash-progress', (p) => this.#progress(this.#hashBar, p));
    let resumedShown = false;
    uploader.on('progress', (p) => {
      this.#hashBar.value = 100;
      if (!resumedShown && p.bytes > 0 && p.bytes < p.size) this.#message.textContent = `Resuming: ${formatBytes(p.bytes)} already on the server.`;
      resumedShown = true;
      this.bytes = p.bytes;
      this.speed = p.speed;
      this.#progress(this.#uploadBar, p);
    });
    uploader.on('retry', ({ attempt, error }) => {
      const first = !this.#recovering;
      this.#recovering = error.code !== 'E_CHECKSUM';
      this.#message.textContent = error.code === 'E_CHECKSUM'
        ? `The server found other content than the checksum says; starting over, attempt ${attempt}…`
        : `${retryReason(error)}; retrying (attempt ${attempt})…`;
      // Said once when the trouble starts, not at every attempt of the backoff.
      if (first) announce(`${this.name}: ${this.#message.textContent}`);
      this.#render();
    });
  }

  setPaused(paused: boolean): void {
    this.#paused = paused;
    this.#render();
  }

  /** Back to the start of the queue (Retry): the bars and message of the last attempt go. */
  requeue(): void {
    delete this.element.dataset.error;
    this.#hashBar.value = 0;
    this.#uploadBar.value = 0;
    this.bytes = 0;
    this.#message.textContent = '';
    this.#recovering = false;
    this.#phase = 'queued';
    this.#render();
  }

  completed(result: UploadResult): void {
    this.element.dataset.md5 = result.md5;
    this.element.dataset.chunksSent = String(result.chunksSent);
    this.element.dataset.md5Cached = String(result.md5Cached);
    this.#hashBar.value = 100;
    this.#uploadBar.value = 100;
    this.bytes = result.file.size;
    this.#message.textContent = result.instant ? 'Already on the server: nothing to send.' : `Stored and verified (md5 ${result.md5}).`;
    this.#end(result.instant ? 'instant' : 'done');
  }

  failed(error: UpwireError): void {
    this.element.dataset.error = error.code;
    this.#message.textContent = describeError(error);
    this.#end(error.code === 'E_ABORTED' ? 'cancelled' : 'failed');
  }

  refused(refusal: Refusal): void {
    this.element.dataset.refused = refusal.reason;
    this.#message.textContent = refusal.message;
    this.#end('refused');
  }

  #end(phase: RowPhase): void {
    this.#phase = phase;
    this.#paused = false;
    this.#recovering = false;
    this.speed = 0;
    this.#render();
  }

  /** The phase a person sees: a pause and a retry in progress are said over the uploader's own steps. */
  #display(): RowPhase {
    if (this.#paused && (this.pausable || this.#phase === 'paused')) return 'paused';
    if (this.#recovering && this.#phase === 'connecting') return 'retrying';
    return this.#phase;
  }

  #render(): void {
    const shown = this.#display();
    const focused = document.activeElement;
    const hadFocus = focused instanceof HTMLButtonElement && this.element.contains(focused);
    this.element.dataset.phase = shown;
    this.element.querySelector('.phase')!.textContent = PHASE_LABEL[shown];
    const { pause, cancel, retry, remove } = this.#buttons;
    pause.textContent = shown === 'paused' ? 'Resume' : 'Pause';
    pause.setAttribute('aria-label', `${pause.textContent} ${this.name}`);
    pause.hidden = !(shown === 'paused' || this.pausable);
    cancel.hidden = this.ended;
    retry.hidden = !['failed', 'cancelled'].includes(shown);
    remove.hidden = !this.ended;
    // Speed and time left only while bytes move: a paused or waiting row has neither.
    if (shown !== 'hashing' && shown !== 'uploading') this.#stats.textContent = '';
    if (!this.#recovering && this.#message.textContent?.endsWith('…') && ['uploading', 'verifying'].includes(shown)) this.#message.textContent = '';
    // A button that disappears under the keyboard's focus hands it to the row's next action,
    // not to the top of the page (Retry becomes Pause, Cancel becomes Retry).
    if (hadFocus && focused.hidden) Object.values(this.#buttons).find((button) => !button.hidden)?.focus();
    if (shown !== this.#shown) this.#announce(shown);
    this.#shown = shown;
  }

  /** Says the changes a person waits for, once each (see announcer.ts). */
  #announce(shown: RowPhase): void {
    const said: Partial<Record<RowPhase, string>> = {
      paused: `${this.name} paused`,
      done: `${this.name} uploaded`,
      instant: `${this.name} was already on the server`,
      failed: `${this.name} failed. ${this.#message.textContent}`,
      cancelled: `${this.name} cancelled`,
      refused: `${this.name}: ${this.#message.textContent}`,
    };
    const resumed = this.#shown === 'paused' && !this.ended ? `${this.name} resumed` : undefined;
    const text = said[shown] ?? resumed;
    if (text) announce(text);
  }

  #progress(bar: HTMLProgressElement, p: Progress): void {
    bar.value = p.percent;
    const shown = this.#display();
    if (shown === 'hashing' || shown === 'uploading') {
      this.#stats.textContent = `${p.percent.toFixed(0)}% · ${formatBytes(p.speed)}/s · ${formatDuration(p.eta)} left`;
    }
  }
}
