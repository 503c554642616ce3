import { watch, type EndedEvent, type UploadSnapshot } from '../client/browser.js';
import { formatBytes, formatDuration } from '../client/format.js';
import { serverAddress } from './server-address.js';
import { savedToken } from './token.js';

type State = 'uploading' | 'done' | EndedEvent['reason'];

const STATE_TEXT: Record<State, string> = { uploading: '', done: 'done', aborted: 'aborted', expired: 'expired', failed: 'failed verification' };

/** "Uploads on this server": every upload in flight, from every client, fed by the watch events. */
export async function startServerUploadsPanel(onComplete: () => void): Promise<void> {
  const list = document.querySelector<HTMLUListElement>('#live')!;
  const empty = document.querySelector<HTMLElement>('#live-empty')!;
  const state = document.querySelector<HTMLElement>('#live-state')!;
  const rows = new Map<string, HTMLLIElement>();
  const token = savedToken();
  const watcher = await watch({ ...serverAddress(), ...(token ? { token } : {}) });

  const render = (upload: UploadSnapshot, status: State) => {
    let row = rows.get(upload.md5);
    if (!row) {
      row = document.createElement('li');
      row.dataset.md5 = upload.md5;
      row.innerHTML = '<span class="name"></span><span class="muted size"></span><progress max="100"></progress><span class="muted detail"></span>';
      rows.set(upload.md5, row);
      list.prepend(row);
    }
    const percent = upload.size === 0 ? 100 : (100 * upload.bytes) / upload.size;
    row.dataset.state = status;
    row.querySelector('.name')!.textContent = upload.name;
    row.querySelector('.size')!.textContent = formatBytes(upload.size);
    row.querySelector('progress')!.value = percent;
    row.querySelector('progress')!.setAttribute('aria-label', `${upload.name} on the server`);
    const eta = upload.rate > 0 ? (upload.size - upload.bytes) / upload.rate : null;
    const clients = `${upload.clients.length} client${upload.clients.length === 1 ? '' : 's'}`;
    row.querySelector('.detail')!.textContent = status === 'uploading'
      ? `${percent.toFixed(0)}% · ${formatBytes(upload.rate)}/s · ${formatDuration(eta)} left · ${clients}`
      : STATE_TEXT[status];
    empty.hidden = rows.size > 0;
  };
  const finish = (md5: string, status: State) => {
    const row = rows.get(md5);
    if (!row) return;
    row.dataset.state = status;
    row.querySelector('.detail')!.textContent = STATE_TEXT[status];
    if (status === 'done') row.querySelector('progress')!.value = 100;
    setTimeout(() => {
      row.remove();
      rows.delete(md5);
      empty.hidden = rows.size > 0;
    }, 15_000);
  };

  for (const upload of watcher.uploads) render(upload, 'uploading');
  empty.hidden = rows.size > 0; // hidden until the server said what is uploading
  watcher.on('snapshot', (uploads) => uploads.forEach((u) => render(u, 'uploading')));
  watcher.on('progress', (upload) => render(upload, 'uploading'));
  watcher.on('complete', (file) => {
    finish(file.md5, 'done');
    onComplete();
  });
  watcher.on('ended', ({ md5, reason }) => finish(md5, reason));
  watcher.on('disconnected', () => (state.textContent = 'reconnecting…'));
  watcher.on('snapshot', () => (state.textContent = 'live'));
  state.textContent = 'live';
}
