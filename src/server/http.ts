import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseMd5, UpwireError, type ErrorCode } from '../protocol/index.js';
import { bearerToken } from './auth.js';
import type { Access, Principal } from './access.js';
import type { ByteStore } from './bytes/types.js';
import type { Metrics } from './metrics.js';
import { clientAddress } from './proxy.js';
import { parseTarget, type Target } from './request-target.js';
import { entryInfo, fileInfo } from './completion.js';
import type { FileIndex, FileRecord } from './store/types.js';

export interface HttpDeps {
  files: FileIndex;
  bytes: ByteStore;
  access: Access;
  metrics: Metrics;
  /** A response that makes no progress this long (its reader stopped reading) is closed. */
  sendTimeoutMs: number;
  /** Told of a record whose bytes are gone, so it is dropped. */
  storedGone(md5: string): Promise<void>;
  /** Where the page finds the socket: its socket.io path (relative to the page, or absolute) and namespace. */
  page: () => { socketPath: string; namespace: string };
  /** Proxies in front whose X-Forwarded-For is believed (TRUST_PROXY; see proxy.ts). */
  trustProxy: number;
  /** Told when /readyz finds a check failing (once per new failure, not per probe), for a warning in the log. */
  log?: (message: string, details: Record<string, unknown>) => void;
}

/** node:http's request listener, and Express's and Connect's middleware: `next` is called for what upwire does not serve. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** The bundled page (npm run build): dist/public beside dist/src/server. */
const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));
const ASSET_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json',
};
const ROUTES = /^\/(?:|index\.html|healthz|readyz|metrics|files(?:\/.*)?|assets\/.*)$/;

/**
 * GET / (the page), /assets/*, /healthz, /readyz, /metrics, /files, /files/:md5, under `basePath`.
 * socket.io handles its own path before this, when it shares the server.
 */
export function httpHandler(deps: HttpDeps, basePath = ''): HttpHandler {
  const prefix = basePath.replace(/\/+$/, '');
  if (prefix !== '' && !prefix.startsWith('/')) throw new Error(`basePath must start with / (got ${JSON.stringify(basePath)})`);
  const under = (path: string) => path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`);
  const readiness = readinessLog(deps.log);
  return (req, res, next) => {
    const raw = req.url ?? '/';
    // Express and Connect strip the mount path from req.url and keep the whole in originalUrl.
    const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? raw;
    let inside: string | undefined = raw;
    if (prefix !== '') inside = under(raw) ? raw.slice(prefix.length) || '/' : original !== raw && under(original) ? raw : undefined;
    if (inside === undefined) return notOurs(res, next);
    const target = parseTarget(inside.startsWith('/') ? inside : `/${inside}`);
    if (!target) {
      // Middleware at the root of an application (no basePath, no mount) shares every path with
      // it: a path upwire refuses may be the application's. Inside a mount, or alone, it is upwire's.
      if (next && prefix === '' && original === raw) return next();
      return sendError(res, 400, 'E_BAD_REQUEST', 'the request path has an empty or dot segment, an encoded slash or a backslash');
    }
    if (!ROUTES.test(target.path)) return notOurs(res, next);
    // The page's URLs are relative: at /uploads (no slash) they would resolve outside the mount.
    const originalPath = original.split('?')[0]!;
    if (target.path === '/' && prefix !== '' && !originalPath.endsWith('/')) {
      res.writeHead(308, { Location: `${originalPath}/${target.search}` }).end();
      return;
    }
    route(req, res, target, deps, readiness).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'E_INTERNAL', message: 'internal server error' } });
      else res.destroy(err as Error);
    });
  };
}

function notOurs(res: ServerResponse, next: ((err?: unknown) => void) | undefined): void {
  if (next) return next();
  sendError(res, 404, 'E_NOT_FOUND', 'not found');
}

async function route(req: IncomingMessage, res: ServerResponse, target: Target, deps: HttpDeps, readiness: ReadinessLog): Promise<void> {
  const pathname = target.path;
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'E_BAD_REQUEST', 'method not allowed');
  // Liveness: the process answers. Readiness: it can read its records and write its files.
  if (pathname === '/healthz') return sendJson(res, 200, { ok: true });
  if (pathname === '/readyz') return sendReadiness(req, res, target, deps, readiness);
  if (!deps.access.hostAllowed(req.headers)) {
    return sendError(res, 421, 'E_FORBIDDEN', `this server does not answer to ${JSON.stringify(req.headers.host ?? '')}; see ALLOWED_HOSTS`);
  }
  if (pathname === '/' || pathname === '/index.html') return sendPage(req, res, deps.page());
  const asset = /^\/assets\/([\w-]+\.(?:js|css|map))$/.exec(pathname);
  if (asset) return sendAsset(req, res, asset[1]!);
  let principal: Principal | undefined;
  try {
    principal = await principalOf(req, target, deps);
  } catch (err) {
    if (err instanceof UpwireError) return sendRefusal(res, err);
    throw err;
  }
  if (pathname === '/metrics') {
    if (!principal) return unauthorized(res);
    if (!mayReadMetrics(principal, deps)) return sendError(res, 403, 'E_FORBIDDEN', 'the server-wide metrics are for the watch role');
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { 'Content-Type': deps.metrics.registry.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (pathname !== '/files' && !pathname.startsWith('/files/')) return sendError(res, 404, 'E_NOT_FOUND', 'not found');
  if (principal?.role !== 'upload') return unauthorized(res);
  // With an authorize hook, each principal sees and fetches its own uploads only.
  const owner = deps.access.perPrincipal ? principal.id : undefined;
  if (pathname === '/files') return listFiles(res, deps.files, owner);
  let md5: string;
  try {
    md5 = parseMd5(decodeURIComponent(pathname.slice('/files/'.length)));
  } catch (err) {
    return sendError(res, 400, 'E_BAD_REQUEST', err instanceof UpwireError ? err.message : 'bad md5');
  }
  const stored = await deps.files.getFile(md5);
  const entry = owner === undefined ? undefined : await deps.files.getEntry(owner, md5);
  if (!stored || (owner !== undefined && !entry)) return sendError(res, 404, 'E_NOT_FOUND', `no stored file with md5 ${md5}`);
  const record = entry ? { ...stored, name: entry.name, type: entry.type } : stored;
  const size = await deps.bytes.storedSize(md5);
  if (size === undefined) {
    await deps.storedGone(md5);
    return sendError(res, 404, 'E_NOT_FOUND', `the stored file ${md5} is gone`);
  }
  return download(req, res, record, size, (start, end) => deps.bytes.readStored(md5, start, end), deps.sendTimeoutMs);
}

function hasToken(req: IncomingMessage, target: Target): boolean {
  return bearerToken(req.headers.authorization) !== undefined || target.query.has('token');
}

/** The HTTP status of a refusal by the authorize hook (a hook's own code, its timeout, the id rule). */
const REFUSAL_STATUS: Partial<Record<ErrorCode, number>> = { E_FORBIDDEN: 403, E_BUSY: 503, E_INTERNAL: 500, E_RATE_LIMIT: 429 };

function sendRefusal(res: ServerResponse, err: UpwireError): void {
  const retryAfterMs = err.details.retryAfterMs;
  if (typeof retryAfterMs === 'number') res.setHeader('Retry-After', Math.ceil(retryAfterMs / 1000));
  sendError(res, REFUSAL_STATUS[err.code] ?? 401, err.code, err.message);
}

/** Who is asking (undefined: no credentials that name anyone); throws the hook's refusal. */
function principalOf(req: IncomingMessage, target: Target, deps: HttpDeps): Promise<Principal | undefined> {
  // Access reads the token and the hook's `url` from a URL. This one is built from a path parseTarget
  // accepted (one leading slash, no dot segment, no backslash), so its host is ours and its path is the one checked.
  const url = new URL(`http://upwire.invalid${target.path}${target.search}`);
  return deps.access.http(req.headers, clientAddress(req.headers, req.socket.remoteAddress, deps.trustProxy), url);
}

/**
 * The server-wide metrics (every tenant's uploads, counted): with the shared tokens, any token's
 * holder (upload or watch); with an authorize hook, only a principal of the watch role, since an
 * upload principal is a tenant, who must learn nothing of the others.
 */
function mayReadMetrics(principal: Principal, deps: HttpDeps): boolean {
  return !deps.access.perPrincipal || principal.role === 'watch';
}

/** The page, told where its socket is (a meta tag): it may be mounted under any path, next to another app's socket.io. */
async function sendPage(req: IncomingMessage, res: ServerResponse, page: { socketPath: string; namespace: string }): Promise<void> {
  let html: string;
  try {
    html = await readFile(join(PUBLIC_DIR, 'index.html'), 'utf8');
  } catch {
    return sendError(res, 503, 'E_NOT_FOUND', 'the page is not built: run npm run build');
  }
  const meta = `<meta name="upwire-socket" content="${escapeAttribute(JSON.stringify(page))}">`;
  const body = html.replace('<!-- upwire-socket -->', meta);
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** Files of the page bundle; the name was matched against a strict pattern, so it cannot leave PUBLIC_DIR. */
async function sendAsset(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
  const path = join(PUBLIC_DIR, name);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return sendError(res, name === 'index.html' ? 503 : 404, 'E_NOT_FOUND', name === 'index.html' ? 'the page is not built: run npm run build' : 'not found');
  }
  res.writeHead(200, {
    'Content-Type': ASSET_TYPES[extname(name)] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await send(createReadStream(path), res, 60_000);
}

/**
 * Streams a body and closes the source whatever happens: a reader that goes away early, or one that
 * stops reading for `timeoutMs`, must not keep a file descriptor (or the bytes queued for it).
 */
async function send(source: Readable, res: ServerResponse, timeoutMs: number): Promise<void> {
  res.setTimeout(timeoutMs, () => res.destroy(new Error(`no progress in ${timeoutMs} ms`)));
  await pipeline(source, res).catch(() => {}); // the response is gone already; pipeline has closed the source
}

/** Every stored file, or an owner's entries (each with its own name, type and metadata). */
async function listFiles(res: ServerResponse, files: FileIndex, owner: string | undefined): Promise<void> {
  const list = [];
  if (owner === undefined) {
    for await (const record of files.listFiles()) list.push({ ...fileInfo(record), createdAt: new Date(record.createdAt).toISOString() });
  } else {
    for await (const entry of files.listEntries(owner)) {
      const record = await files.getFile(entry.md5);
      if (record) list.push({ ...entryInfo(entry, fileInfo(record)), createdAt: new Date(entry.createdAt).toISOString() });
    }
  }
  sendJson(res, 200, { files: list });
}

type ReadinessLog = (checks: { database: string; disk: string }) => void;

/** Logs a failing check when what fails changes: a probe every few seconds, or anyone's, must not fill the log. */
function readinessLog(log: HttpDeps['log']): ReadinessLog {
  let last = 'ok';
  return (checks) => {
    const now = checks.database === 'ok' && checks.disk === 'ok' ? 'ok' : JSON.stringify(checks);
    if (now !== last && now !== 'ok') log?.('not ready: a readiness check fails', checks);
    last = now;
  };
}

/**
 * 200 when the file index answers a read and the byte store has room for a write; 503 otherwise.
 * Anyone gets `{ ok }` (a load balancer needs no more); what failed, whose text may name paths,
 * only a caller who may read /metrics, under the same host rule.
 */
async function sendReadiness(req: IncomingMessage, res: ServerResponse, target: Target, deps: HttpDeps, readiness: ReadinessLog): Promise<void> {
  const check = async (probe: () => Promise<unknown>): Promise<string> => {
    try {
      await probe();
      return 'ok';
    } catch (err) {
      return (err as Error).message.slice(0, 200);
    }
  };
  const [database, disk, principal] = await Promise.all([
    check(() => deps.files.getFile('0'.repeat(32))),
    check(async () => {
      if ((await deps.bytes.freeBytes()) <= 0) throw new Error('no free space');
    }),
    // With an authorize hook, only a probe that names itself with a token is authorized (a load
    // balancer's never waits on a hook); a refused or failing authorization is an anonymous probe.
    deps.access.hostAllowed(req.headers) && (!deps.access.perPrincipal || hasToken(req, target))
      ? principalOf(req, target, deps).catch(() => undefined)
      : undefined,
  ]);
  readiness({ database, disk });
  const ok = database === 'ok' && disk === 'ok';
  sendJson(res, ok ? 200 : 503, principal && mayReadMetrics(principal, deps) ? { ok, checks: { database, disk } } : { ok });
}

async function download(
  req: IncomingMessage, res: ServerResponse, record: FileRecord, size: number,
  open: (start: number, end: number) => Readable, timeoutMs: number,
): Promise<void> {
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
  await send(open(start, end), res, timeoutMs);
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

/** The stored name for a download, as a safe ASCII fallback plus the exact UTF-8 (RFC 6266). */
function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc5987(name)}`;
}

function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function unauthorized(res: ServerResponse): void {
  res.setHeader('WWW-Authenticate', 'Bearer');
  sendError(res, 401, 'E_UNAUTHORIZED', 'missing or wrong token');
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
