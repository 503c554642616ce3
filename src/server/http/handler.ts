import type { IncomingMessage, ServerResponse } from 'node:http';
import { UpwireError } from '../../protocol/index.js';
import type { Access } from '../access/access.js';
import type { Principal } from '../model/principal.js';
import type { Metrics } from '../observe/metrics.js';
import { mayReadMetrics, principalOf } from './caller.js';
import { deleteFile, listFiles, sendFile, type FilesDeps } from './files.js';
import { sendAsset, sendPage } from './page.js';
import { readiness, type ReadinessDeps } from './readiness.js';
import { parseTarget, type Target } from './request-target.js';
import { sendError, sendJson, sendUpwireError, unauthorized } from './responses.js';

export interface HttpDeps extends FilesDeps, ReadinessDeps {
  access: Access;
  metrics: Metrics;
  /**
   * Where the page finds the socket: its socket.io path (relative to the page, or absolute) and
   * namespace; and the largest file the server takes, so the page refuses a larger one before hashing it.
   */
  page: () => { socketPath: string; namespace: string; maxFileSize?: number };
  /** Proxies in front whose X-Forwarded-For is believed (TRUST_PROXY; see access/client-address.ts). */
  trustProxy: number;
}

/** node:http's request listener, and Express's and Connect's middleware: `next` is called for what upwire does not serve. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

const ROUTES = /^\/(?:|index\.html|healthz|readyz|metrics|files(?:\/.*)?|assets\/.*)$/;

/**
 * GET / (the page), /assets/*, /healthz, /readyz, /metrics, /files, /files/:md5, and DELETE /files/:md5, under `basePath`.
 * socket.io handles its own path before this, when it shares the server.
 */
export function httpHandler(deps: HttpDeps, basePath = ''): HttpHandler {
  const prefix = basePath.replace(/\/+$/, '');
  if (prefix !== '' && !prefix.startsWith('/')) throw new Error(`basePath must start with / (got ${JSON.stringify(basePath)})`);
  const under = (path: string) => path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`);
  const ready = readiness(deps);
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
      return sendError(res, 'E_BAD_REQUEST', 'the request path has an empty or dot segment, an encoded slash or a backslash');
    }
    if (!ROUTES.test(target.path)) return notOurs(res, next);
    // The page's URLs are relative: at /uploads (no slash) they would resolve outside the mount.
    const originalPath = original.split('?')[0]!;
    if (target.path === '/' && prefix !== '' && !originalPath.endsWith('/')) {
      res.writeHead(308, { Location: `${originalPath}/${target.search}` }).end();
      return;
    }
    const answered = target.path === '/readyz' && isRead(req) ? ready(req, res, target) : route(req, res, target, deps);
    answered.catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 'E_INTERNAL', 'internal server error');
      else res.destroy(err as Error);
    });
  };
}

function isRead(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

function notOurs(res: ServerResponse, next: ((err?: unknown) => void) | undefined): void {
  if (next) return next();
  sendError(res, 'E_NOT_FOUND', 'not found');
}

async function route(req: IncomingMessage, res: ServerResponse, target: Target, deps: HttpDeps): Promise<void> {
  const pathname = target.path;
  const deleting = req.method === 'DELETE' && pathname.startsWith('/files/');
  if (!isRead(req) && !deleting) return sendError(res, 'E_BAD_REQUEST', 'method not allowed', 405);
  // Liveness: the process answers. (Readiness: readiness.ts.)
  if (pathname === '/healthz') return sendJson(res, 200, { ok: true });
  if (!deps.access.hostAllowed(req.headers)) {
    return sendError(res, 'E_FORBIDDEN', `this server does not answer to ${JSON.stringify(req.headers.host ?? '')}; see ALLOWED_HOSTS`, 421);
  }
  if (pathname === '/' || pathname === '/index.html') return sendPage(req, res, deps.page());
  const asset = /^\/assets\/([\w-]+\.(?:js|css|map))$/.exec(pathname);
  if (asset) return sendAsset(req, res, asset[1]!);
  let principal: Principal | undefined;
  try {
    principal = await principalOf(req, target, deps.access, deps.trustProxy);
  } catch (err) {
    if (err instanceof UpwireError) return sendUpwireError(res, err);
    throw err;
  }
  if (pathname === '/metrics') {
    if (!principal) return unauthorized(res);
    if (!mayReadMetrics(principal, deps.access)) return sendError(res, 'E_FORBIDDEN', 'the server-wide metrics are for the watch role');
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { 'Content-Type': deps.metrics.registry.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (pathname !== '/files' && !pathname.startsWith('/files/')) return sendError(res, 'E_NOT_FOUND', 'not found');
  if (principal?.role !== 'upload') return unauthorized(res);
  // With an authorize hook, each principal sees and fetches its own uploads only.
  const owner = deps.access.perPrincipal ? principal.id : undefined;
  if (deleting) {
    const refused = deps.access.deleteRefused(principal);
    if (refused !== undefined) return sendError(res, 'E_FORBIDDEN', refused);
    return deleteFile(res, pathname.slice('/files/'.length), principal, deps);
  }
  if (pathname === '/files') return listFiles(res, deps.files, owner, deps.access.deleteRefused(principal) === undefined);
  return sendFile(req, res, pathname.slice('/files/'.length), owner, deps);
}
