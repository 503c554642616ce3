import { formatBytes } from '../client/format.js';
import { renderOverall } from './overall.js';
import { UploadQueue } from './queue.js';
import { pickerAccept, readRestrictions, type Restrictions } from './restrictions.js';
import { startServerUploadsPanel } from './server-uploads.js';
import { serverLimits } from './server-address.js';
import { refreshStoredFiles } from './stored-files.js';

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;

const restrictions = readRestrictions(serverLimits(), document.documentElement.dataset, new URLSearchParams(location.search));
const queue = new UploadQueue($<HTMLUListElement>('#uploads'), $<HTMLTemplateElement>('#upload-row'), restrictions, () => {
  renderOverall(queue.jobs);
  guardUnload(queue.busy);
});
$('#pause-all').addEventListener('click', () => queue.pauseAll());
$('#resume-all').addEventListener('click', () => queue.resumeAll());
$('#clear-finished').addEventListener('click', () => {
  queue.clearFinished();
  $('#picker').focus(); // the button goes away with the rows it cleared
});
showLimits(restrictions);

const picker = $<HTMLInputElement>('#picker');
picker.accept = pickerAccept(restrictions);
picker.addEventListener('change', () => {
  queue.add(picker.files ?? []);
  picker.value = ''; // the same file can be picked again (to resume it)
});

/*
 * Files dropped anywhere on the page go to the list. A drop the page does not take is the
 * browser's to handle, and it opens the file in place of the page: the tab's uploads would be gone.
 * So the window takes every drag of files (dragover's default refused, which makes it a drop
 * target) and every drop; a drag of the page's own text or links is left alone.
 */
const drop = $('#drop');
const carriesFiles = (event: DragEvent) => event.dataTransfer?.types.includes('Files') ?? false;
window.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  event.dataTransfer!.dropEffect = 'copy';
  drop.classList.add('over');
});
window.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) drop.classList.remove('over'); // left the window
});
window.addEventListener('drop', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  drop.classList.remove('over');
  if ($<HTMLDialogElement>('#token-dialog').open) return; // the dialog is modal: nothing behind it takes input
  queue.add(event.dataTransfer?.files ?? []);
});

/** Closing or reloading the tab asks first, only while a file is hashing or sending. */
function guardUnload(busy: boolean): void {
  document.documentElement.dataset.busy = String(busy);
  window.onbeforeunload = busy ? (event) => {
    event.preventDefault();
    return ''; // older browsers show the dialog only for a returned value
  } : null;
}

function showLimits({ maxFileSize, accept, maxFiles }: Restrictions): void {
  const parts = [];
  // The server's default (1 TiB) says nothing useful to a person.
  if (maxFileSize !== undefined && maxFileSize < 2 ** 40) parts.push(`up to ${formatBytes(maxFileSize)} a file`);
  for (const list of accept) parts.push(`${list.join(', ')} only`);
  if (maxFiles !== undefined) parts.push(`at most ${maxFiles} file${maxFiles === 1 ? '' : 's'}`);
  $('#limits').textContent = parts.length > 0 ? `This page takes ${parts.join('; ')}.` : '';
}

/**
 * The stored list, and "Loading…" until it has loaded ("No files yet." before would be a wrong
 * answer). It asks for the token when the server needs one; the live panel starts after it, with that token.
 */
let liveStarted = false;
async function loadStored(): Promise<void> {
  const loading = $('#stored-loading');
  try {
    await refreshStoredFiles();
    loading.hidden = true;
  } catch (err) {
    loading.hidden = false;
    loading.textContent = `Cannot list the files (${(err as Error).message}). Refresh to try again.`;
    return;
  }
  if (liveStarted) return;
  liveStarted = true;
  await startServerUploadsPanel(() => void loadStored()).catch((err: Error) => {
    liveStarted = false;
    $('#live-state').textContent = `not available: ${err.message}`;
  });
}

queue.onStored(() => void loadStored());
$('#refresh').addEventListener('click', () => void loadStored());
void loadStored();
