import { formatBytes } from '../client/format.js';

/**
 * What the page takes, checked when a file is added, before it is hashed: a file the server would
 * refuse for its size costs no hashing pass (minutes for a large file on a phone).
 *
 * Sources, every one of which applies (a file must pass them all):
 * - the server's own size limit, which it writes into the page's meta tag (`maxFileSize`);
 * - data attributes on <html>, for whoever hosts the page: data-max-file-size, data-accept, data-max-files;
 * - the page's query string, for a link that narrows what it asks for: ?maxFileSize=10MiB&accept=.pdf,image/*&maxFiles=3.
 * None of them is a security boundary: the server checks the size again, and a page setting only
 * spares the person a refusal after the upload started.
 */
export interface Restrictions {
  /** Bytes; a file above it is refused. */
  maxFileSize?: number;
  /** Each list as in <input accept>: `.pdf`, `image/*`, `application/zip`; a file must match one entry of every list. */
  accept: string[][];
  /** Files in this page's list at once (refused ones not counted); removing a row frees its place. */
  maxFiles?: number;
}

export type Refusal = { reason: 'size' | 'type' | 'count'; message: string };

interface Settings { maxFileSize?: string | number | undefined; accept?: string | undefined; maxFiles?: string | undefined }

/** Every source's settings, combined: the smallest size and count, and every type list. */
export function readRestrictions(server: { maxFileSize?: unknown }, html: DOMStringMap, query: URLSearchParams): Restrictions {
  const sources: Settings[] = [
    { maxFileSize: typeof server.maxFileSize === 'number' ? server.maxFileSize : undefined },
    { maxFileSize: html.maxFileSize, accept: html.accept, maxFiles: html.maxFiles },
    { maxFileSize: query.get('maxFileSize') ?? undefined, accept: query.get('accept') ?? undefined, maxFiles: query.get('maxFiles') ?? undefined },
  ];
  const restrictions: Restrictions = { accept: [] };
  for (const source of sources) {
    const size = parseSize(source.maxFileSize);
    if (size !== undefined) restrictions.maxFileSize = Math.min(size, restrictions.maxFileSize ?? Infinity);
    const count = parseCount(source.maxFiles);
    if (count !== undefined) restrictions.maxFiles = Math.min(count, restrictions.maxFiles ?? Infinity);
    const accept = parseAccept(source.accept);
    if (accept.length > 0) restrictions.accept.push(accept);
  }
  return restrictions;
}

/** Why `file` cannot be added, or undefined; `inList` is the number of files already in the list. */
export function refusalOf(file: { name: string; size: number; type: string }, restrictions: Restrictions, inList: number): Refusal | undefined {
  const { maxFileSize, accept, maxFiles } = restrictions;
  if (maxFiles !== undefined && inList >= maxFiles) {
    return { reason: 'count', message: `Not added: at most ${maxFiles} file${maxFiles === 1 ? '' : 's'} at a time. Remove one to add another.` };
  }
  if (maxFileSize !== undefined && file.size > maxFileSize) {
    return { reason: 'size', message: `Not sent: ${formatBytes(file.size)} is above the limit of ${formatBytes(maxFileSize)}.` };
  }
  const refused = accept.find((list) => !list.some((entry) => matches(file, entry)));
  if (refused) return { reason: 'type', message: `Not sent: this page takes only ${refused.join(', ')} files.` };
  return undefined;
}

/** The picker's `accept` attribute: the one list given (the browser's dialog filters by it), or none. */
export function pickerAccept(restrictions: Restrictions): string {
  return restrictions.accept.length === 1 ? restrictions.accept[0]!.join(',') : '';
}

function matches(file: { name: string; type: string }, entry: string): boolean {
  if (entry.startsWith('.')) return file.name.toLowerCase().endsWith(entry);
  const type = file.type.toLowerCase();
  if (entry.endsWith('/*')) return type.startsWith(entry.slice(0, -1));
  return type === entry;
}

function parseAccept(text: string | undefined): string[] {
  return (text ?? '').split(',').map((entry) => entry.trim().toLowerCase()).filter((entry) => /^(\.[^\s/]+|[a-z0-9.+-]+\/(\*|[a-z0-9.+-]+))$/.test(entry));
}

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  const count = Number(text);
  return Number.isSafeInteger(count) && count > 0 ? count : undefined;
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** Bytes, or a number and a unit: `10485760`, `10MiB`, `1.5 GB`; anything else is ignored. */
export function parseSize(value: string | number | undefined): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value ?? '');
  if (!match) return undefined;
  const key = match[2]!.toLowerCase();
  const unit = Object.hasOwn(UNITS, key) ? UNITS[key] : undefined; // not `constructor`, say
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
