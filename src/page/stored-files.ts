import { formatBytes } from '../client/format.js';
import type { FileInfo } from '../protocol/index.js';
import { pageRelative } from './server-address.js';
import { askForToken, authHeaders, withToken } from './token.js';

type StoredFile = FileInfo & { createdAt: string };

/** The list of files on the server, from GET /files, newest first. */
export async function refreshStoredFiles(): Promise<void> {
  const res = await fetch(pageRelative('files'), { headers: authHeaders() });
  if (res.status === 401) {
    await askForToken();
    return refreshStoredFiles();
  }
  if (!res.ok) throw new Error(`GET /files answered ${res.status}`);
  // `deletable`: the server lets this caller delete (servers before it did not say: no button).
  const { files, deletable } = (await res.json()) as { files: StoredFile[]; deletable?: boolean };
  files.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const list = document.querySelector<HTMLUListElement>('#stored')!;
  document.querySelector<HTMLElement>('#stored-empty')!.hidden = files.length > 0;
  list.replaceChildren(...files.map((file) => renderFile(file, deletable === true)));
}

function renderFile(file: StoredFile, deletable: boolean): HTMLLIElement {
  const item = document.createElement('li');
  item.dataset.md5 = file.md5;
  const link = document.createElement('a');
  link.href = withToken(pageRelative(file.url));
  link.textContent = file.name;
  link.download = file.name;
  const size = span(formatBytes(file.size), 'size muted');
  const date = span(new Date(file.createdAt).toLocaleString(), 'date muted');
  const md5 = span(file.md5, 'md5');
  item.append(link, size, date);
  if (deletable) item.append(deleteButton(file, item));
  item.append(md5);
  return item;
}

/** Delete, after a confirmation; its accessible name says which file. The row goes when the server confirms. */
function deleteButton(file: StoredFile, item: HTMLLIElement): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'delete ghost';
  button.textContent = 'Delete';
  button.setAttribute('aria-label', `Delete ${file.name}`);
  button.onclick = async () => {
    if (!confirm(`Delete ${file.name} from the server? This cannot be undone.`)) return;
    button.disabled = true;
    const problem = await deleteStored(file).catch((err: Error) => err.message);
    if (problem === undefined) {
      item.remove();
      document.querySelector<HTMLElement>('#stored-empty')!.hidden = document.querySelector('#stored li') !== null;
      return;
    }
    button.disabled = false;
    let error = item.querySelector<HTMLElement>('.error');
    if (!error) {
      error = span('', 'error');
      error.setAttribute('role', 'alert');
      item.append(error);
    }
    error.textContent = `Not deleted: ${problem}`;
  };
  return button;
}

/** DELETE /files/:md5: undefined when done (or gone already), else the server's reason. */
async function deleteStored(file: StoredFile): Promise<string | undefined> {
  const res = await fetch(pageRelative(file.url), { method: 'DELETE', headers: authHeaders() });
  if (res.status === 401) {
    await askForToken('Deleting needs the upload token.');
    return deleteStored(file);
  }
  if (res.ok || res.status === 404) return undefined;
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  return body.error?.message ?? `the server answered ${res.status}`;
}

function span(text: string, className: string): HTMLSpanElement {
  const el = document.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}
