import { BROWSER_DEFAULTS } from '../client/browser-defaults.js';
import { BlobFileSource, IndexedDbHashCache, Uploader, UpwireError, workerMd5 } from '../client/browser.js';
import { announce } from './announcer.js';
import { PauseGate, pausableHasher } from './pause.js';
import { refusalOf, type Restrictions } from './restrictions.js';
import { serverAddress } from './server-address.js';
import { askForToken, savedToken } from './token.js';
import { UploadRow } from './upload-row.js';

/** Files hashed or sent at the same time; the rest wait their turn (a paused one gives its place up). */
const FILES_IN_FLIGHT = 2;

interface Job {
  file: File;
  row: UploadRow;
  gate: PauseGate;
  uploader?: Uploader | undefined;
  /** Waiting for a place, running (an uploader of its own), or ended (the row says how). */
  state: 'queued' | 'running' | 'ended';
}

/** The uploads of this tab: their order, how many run at once, and the actions on them. */
export class UploadQueue {
  readonly #jobs: Job[] = [];
  readonly #template: HTMLTemplateElement;
  readonly #list: HTMLUListElement;
  readonly #restrictions: Restrictions;
  readonly #changed: () => void;
  /** One IndexedDB cache for every upload of the tab, as createUploader's default would be. */
  readonly #hashCache = typeof indexedDB === 'undefined' ? false : new IndexedDbHashCache();

  constructor(list: HTMLUListElement, template: HTMLTemplateElement, restrictions: Restrictions, changed: () => void) {
    this.#list = list;
    this.#template = template;
    this.#restrictions = restrictions;
    this.#changed = changed;
  }

  get jobs(): readonly { row: UploadRow; file: File }[] {
    return this.#jobs;
  }

  /** Something is hashing or sending (a pause stops both): closing the tab now would stop it. */
  get busy(): boolean {
    return this.#jobs.some((job) => job.state === 'running' && !job.gate.paused);
  }

  /** Adds files at the top of the list; a file the restrictions refuse gets a row that says why, and is never hashed. */
  add(files: Iterable<File>): void {
    let added = 0;
    for (const file of files) {
      const row = new UploadRow(file, this.#template, {
        togglePause: () => this.#togglePause(job),
        cancel: () => this.#cancel(job),
        retry: () => this.#retry(job),
        remove: () => this.#remove(job),
      });
      const job: Job = { file, row, gate: new PauseGate(), state: 'queued' };
      const inList = this.#jobs.filter((other) => other.row.phase !== 'refused').length;
      const refusal = refusalOf(file, this.#restrictions, inList);
      this.#jobs.unshift(job);
      this.#list.prepend(job.row.element);
      if (refusal) {
        job.state = 'ended';
        job.row.refused(refusal);
      } else {
        added++;
      }
    }
    if (added > 1) announce(`${added} files added`);
    this.#pump();
  }

  /** Pause all: every file that can stop, waiting ones included; Resume all undoes it. */
  pauseAll(): void {
    for (const job of this.#jobs) if (!job.gate.paused && job.row.pausable) this.#pause(job);
    this.#changed();
  }

  resumeAll(): void {
    for (const job of this.#jobs) if (job.gate.paused) this.#resume(job);
    this.#pump();
  }

  /** Removes the rows of files that are on the server now. */
  clearFinished(): void {
    for (const job of [...this.#jobs]) if (job.row.phase === 'done' || job.row.phase === 'instant') this.#drop(job);
    this.#changed();
  }

  #togglePause(job: Job): void {
    if (job.gate.paused) this.#resume(job);
    else this.#pause(job);
    this.#pump();
  }

  #pause(job: Job): void {
    job.gate.pause();
    job.uploader?.pause();
    job.row.setPaused(true);
  }

  #resume(job: Job): void {
    job.gate.resume();
    job.uploader?.resume();
    job.row.setPaused(false);
  }

  #cancel(job: Job): void {
    if (job.state === 'running') {
      job.uploader?.abort(); // run() ends the row, as cancelled
      return;
    }
    if (job.state !== 'queued') return;
    job.state = 'ended';
    job.gate.resume();
    job.row.failed(new UpwireError('E_ABORTED'));
    this.#pump();
  }

  /** A failed or cancelled file again, from where the server has it (the hash cache spares most of the hashing). */
  #retry(job: Job): void {
    if (job.state !== 'ended' || job.row.phase === 'refused') return;
    job.state = 'queued';
    job.uploader = undefined;
    job.row.requeue();
    this.#pump();
  }

  #remove(job: Job): void {
    if (job.state !== 'ended') return;
    // The keyboard's focus goes to the next row's first action, or to the file picker: never lost.
    const index = this.#jobs.indexOf(job);
    const next = this.#jobs[index + 1] ?? this.#jobs[index - 1];
    this.#drop(job);
    announce(`${job.file.name} removed`);
    const target = next?.row.element.querySelector<HTMLButtonElement>('button:not([hidden])') ?? document.querySelector<HTMLElement>('#picker');
    target?.focus();
    this.#pump();
  }

  #drop(job: Job): void {
    this.#jobs.splice(this.#jobs.indexOf(job), 1);
    job.row.element.remove();
  }

  /** Starts the oldest waiting files while fewer than FILES_IN_FLIGHT run unpaused. */
  #pump(): void {
    let running = this.#jobs.filter((job) => job.state === 'running' && !job.gate.paused).length;
    for (const job of [...this.#jobs].reverse()) {
      if (running >= FILES_IN_FLIGHT) break;
      if (job.state !== 'queued' || job.gate.paused) continue;
      job.state = 'running';
      running++;
      void this.#run(job).finally(() => {
        job.state = 'ended';
        job.uploader = undefined;
        job.gate.resume(); // a Retry starts unpaused
        this.#pump();
      });
    }
    this.#changed();
  }

  async #run(job: Job): Promise<void> {
    while (true) {
      const token = savedToken();
      const uploader = new Uploader(new BlobFileSource(job.file), pausableHasher(workerMd5(), job.gate), {
        ...BROWSER_DEFAULTS, ...serverAddress(), ...(token ? { token } : {}), hashCache: this.#hashCache,
      });
      job.uploader = uploader;
      job.row.attach(uploader);
      uploader.on('progress', () => this.#changed());
      uploader.on('phase', () => this.#changed());
      if (job.gate.paused) uploader.pause();
      try {
        job.row.completed(await uploader.start());
        this.#onStored();
        return;
      } catch (err) {
        const error = err as UpwireError;
        // The dialog says why when a token was sent; dismissed, the row fails and its Retry asks again.
        if (error.code === 'E_UNAUTHORIZED' && (await askForToken().then(() => true, () => false))) continue;
        job.row.failed(error);
        return;
      }
    }
  }

  #onStored: () => void = () => {};

  /** Called after each file is stored (the page refreshes its list of stored files). */
  onStored(listener: () => void): void {
    this.#onStored = listener;
  }
}
