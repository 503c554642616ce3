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
  const { files } = (await res.json()) as { files: StoredFile[] };
  files.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const list = document.querySelector<HTMLUListElement>('#stored')!;
  document.querySelector<HTMLElement>('#stored-empty')!.hidden = files.length > 0;
  list.replaceChildren(...files.map(renderFile));
}

function renderFile(file: StoredFile): HTMLLIElement {
  const item = document.createElement('li');
  item.dataset.md5 = file.md5;
  const link = document.createElement('a');
  link.href = withToken(pageRelative(file.url));
  link.textContent = file.name;
  link.download = file.name;
  const size = span(formatBytes(file.size), 'size muted');
  const date = span(new Date(file.createdAt).toLocaleString(), 'date muted');
  const md5 = span(file.md5, 'md5');
  item.append(link, size, date, md5);
  return item;
}

function span(text: string, className: string): HTMLSpanElement {
  const el = document.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}
