import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseMd5, UpwireError } from '../../protocol/index.js';
import { contentDisposition } from '../bytes/content-disposition.js';
import type { ByteStore } from '../bytes/types.js';
import type { FileIndex, FileRecord } from '../store/types.js';
import { entryInfo, fileInfo } from '../upload/completion.js';
import { sendError, sendJson, sendUpwireError, stream } from './responses.js';
import type { Principal } from '../model/principal.js';

export interface FilesDeps {
  files: FileIndex;
  bytes: ByteStore;
  /** A response that makes no progress this long (its reader stopped reading) is closed. */
  sendTimeoutMs: number;
  /** Told of a record whose bytes are gone, so it is dropped. */
  storedGone(md5: string): Promise<void>;
  /** 'redirect': a download is sent to the byte store's presigned URL when it offers one (object storage). */
  downloads: 'proxy' | 'redirect';
  /** A download starts: a delete meanwhile keeps the bytes until the answer (called once) says it ended. */
  hold(md5: string): () => void;
  /** DELETE /files/:md5 for a principal allowed to delete: its entry (the content with the last); rejects with E_NOT_FOUND when it has none. */
  remove(md5: string, principal: Principal): Promise<{ md5: string }>;
}

/**
 * GET /files: every stored file, or an owner's entries (each with its own name, type and metadata);
 * `deletable`: whether this caller may delete them (DELETES), so the page shows Delete only then.
 */
export async function listFiles(res: ServerResponse, files: FileIndex, owner: string | undefined, deletable: boolean): Promise<void> {
  const list = [];
  if (owner === undefined) {
    for await (const record of files.listFiles()) list.push({ ...fileInfo(record), createdAt: new Date(record.createdAt).toISOString() });
  } else {
    for await (const entry of files.listEntries(owner)) {
      const record = await files.getFile(entry.md5);
      if (record) list.push({ ...entryInfo(entry, fileInfo(record)), createdAt: new Date(entry.createdAt).toISOString() });
    }
  }
  sendJson(res, 200, { files: list, deletable });
}

/** GET /files/:md5 (`raw` as it follows /files/): the file, as the owner named it when files belong to principals. */
export async function sendFile(req: IncomingMessage, res: ServerResponse, raw: string, owner: string | undefined, deps: FilesDeps): Promise<void> {
  const md5 = md5Of(res, raw);
  if (md5 === undefined) return;
  const release = deps.hold(md5);
  try {
    await sendHeld(req, res, md5, owner, deps);
  } finally {
    release();
  }
}

/** DELETE /files/:md5: `{ md5 }`, or the service's refusal (E_NOT_FOUND for a file the principal has no entry of, as for one nobody has). */
export async function deleteFile(res: ServerResponse, raw: string, principal: Principal, deps: FilesDeps): Promise<void> {
  const md5 = md5Of(res, raw);
  if (md5 === undefined) return;
  try {
    sendJson(res, 200, await deps.remove(md5, principal));
  } catch (err) {
    if (err instanceof UpwireError) return sendUpwireError(res, err);
    throw err;
  }
}

/** The md5 a path names, or undefined when it names none (answered with E_BAD_REQUEST). */
function md5Of(res: ServerResponse, raw: string): string | undefined {
  try {
    return parseMd5(decodeURIComponent(raw));
  } catch (err) {
    sendError(res, 'E_BAD_REQUEST', err instanceof UpwireError ? err.message : 'bad md5');
    return undefined;
  }
}

async function sendHeld(req: IncomingMessage, res: ServerResponse, md5: string, owner: string | undefined, deps: FilesDeps): Promise<void> {
  const stored = await deps.files.getFile(md5);
  const entry = owner === undefined ? undefined : await deps.files.getEntry(owner, md5);
  if (!stored || (owner !== undefined && !entry)) return sendError(res, 'E_NOT_FOUND', `no stored file with md5 ${md5}`);
  const record = entry ? { ...stored, name: entry.name, type: entry.type } : stored;
  if (deps.downloads === 'redirect' && deps.bytes.storedUrl) {
    res.writeHead(302, { Location: await deps.bytes.storedUrl(md5, { name: record.name, type: record.type }), 'Cache-Control': 'no-store' }).end();
    return;
  }
  const size = await deps.bytes.storedSize(md5);
  if (size === undefined) {
    await deps.storedGone(md5);
    return sendError(res, 'E_NOT_FOUND', `the stored file ${md5} is gone`);
  }
  return download(req, res, record, size, deps);
}

async function download(req: IncomingMessage, res: ServerResponse, record: FileRecord, size: number, deps: FilesDeps): Promise<void> {
  const etag = `"${record.md5}"`;
  res.setHeader('ETag', etag);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Content-Type', record.type);
  res.setHeader('Content-Disposition', contentDisposition(record.name));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304).end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const range = parseRange(req.headers.range, size, typeof ifRange === 'string' ? ifRange : undefined, etag);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
    return;
  }
  const [start, end] = range ?? [0, size - 1];
  const length = size === 0 ? 0 : end - start + 1;
  res.setHeader('Content-Length', length);
  if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  res.writeHead(range ? 206 : 200);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  await stream(deps.bytes.readStored(record.md5, start, end), res, deps.sendTimeoutMs);
}

/**
 * One byte range (RFC 9110 §14): `a-b`, `a-` or `-n`. Several ranges, a malformed header or a
 * stale If-Range fall back to the whole file, as the RFC allows.
 */
export function parseRange(header: string | undefined, size: number, ifRange: string | undefined, etag: string): [number, number] | 'unsatisfiable' | undefined {
  if (!header || (ifRange !== undefined && ifRange !== etag)) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return [start, end];
}

