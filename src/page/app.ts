import { createUploader, type Uploader, UpwireError } from '../client/browser.js';
import { startServerUploadsPanel } from './server-uploads.js';
import { serverAddress } from './server-address.js';
import { refreshStoredFiles } from './stored-files.js';
import { askForToken, savedToken } from './token.js';
import { UploadRow } from './upload-row.js';

/** Files hashed or sent at the same time; the rest wait their turn. */
const FILES_IN_FLIGHT = 2;

interface Job { file: File; row: UploadRow; uploader?: Uploader; cancelled: boolean }

const queue: Job[] = [];
let running = 0;

const template = document.querySelector<HTMLTemplateElement>('#upload-row')!;
const list = document.querySelector<HTMLUListElement>('#uploads')!;

function add(files: Iterable<File>): void {
  for (const file of files) {
    const row = new UploadRow(file, template);
    const job: Job = { file, row, cancelled: false };
    row.element.querySelector<HTMLButtonElement>('.cancel')!.onclick = () => cancel(job);
    list.prepend(row.element);
    queue.push(job);
  }
  document.querySelector<HTMLElement>('#queue-panel')!.hidden = false;
  pump();
}

function cancel(job: Job): void {
  job.cancelled = true;
  if (job.uploader) job.uploader.abort();
  else job.row.failed(new UpwireError('E_ABORTED'));
}

function pump(): void {
  while (running < FILES_IN_FLIGHT && queue.length > 0) {
    const job = queue.shift()!;
    if (job.cancelled) continue;
    running++;
    void run(job).finally(() => {
      running--;
      pump();
    });
  }
  updateSummary();
}

async function run(job: Job): Promise<void> {
  while (true) {
    const token = savedToken();
    const uploader = await createUploader(job.file, { ...serverAddress(), ...(token ? { token } : {}) });
    job.uploader = uploader;
    job.row.attach(uploader, () => cancel(job));
    try {
      job.row.completed(await uploader.start());
      void refreshStoredFiles();
      return;
    } catch (err) {
      const error = err as UpwireError;
      if (error.code === 'E_UNAUTHORIZED' && !job.cancelled) {
        await askForToken(token ? 'That token was refused.' : undefined);
        continue;
      }
      job.row.failed(error);
      return;
    }
  }
}

function updateSummary(): void {
  const waiting = queue.filter((j) => !j.cancelled).length;
  document.querySelector('#queue-summary')!.textContent = waiting > 0 ? `${waiting} waiting` : '';
}

const picker = document.querySelector<HTMLInputElement>('#picker')!;
picker.addEventListener('change', () => {
  add(picker.files ?? []);
  picker.value = ''; // the same file can be picked again (to resume it)
});

const drop = document.querySelector<HTMLElement>('#drop')!;
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  add(event.dataTransfer?.files ?? []);
});
document.querySelector('#refresh')!.addEventListener('click', () => void refreshStoredFiles());
// The stored list asks for the token when the server needs one; the live panel then uses it.
void refreshStoredFiles().then(() => startServerUploadsPanel(() => void refreshStoredFiles())).catch((err: Error) => {
  document.querySelector('#live-state')!.textContent = `not available: ${err.message}`;
});
