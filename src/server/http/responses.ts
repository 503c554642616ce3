import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ErrorCode, UpwireError } from '../../protocol/index.js';

/**
 * The HTTP status of each error code, beside the codes themselves (protocol/errors.ts): one table,
 * so that a refusal means the same over HTTP wherever it comes from. The type makes it complete.
 */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  E_BAD_REQUEST: 400,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_PROTOCOL: 400,
  E_NOT_FOUND: 404,
  E_TOO_LARGE: 413,
  E_SIZE_MISMATCH: 409,
  E_CONFLICT: 409,
  E_UNKNOWN_UPLOAD: 404,
  E_INDEX: 400,
  E_CHUNK_SIZE: 400,
  E_INCOMPLETE: 409,
  E_CHECKSUM: 422,
  E_PROOF: 403,
  E_NO_SPACE: 507,
  E_RATE_LIMIT: 429,
  E_BUSY: 503,
  E_INTERNAL: 500,
  // Raised by clients, never answered by a server; listed for completeness.
  E_UNREACHABLE: 502,
  E_DISCONNECTED: 502,
  E_TIMEOUT: 504,
  E_ABORTED: 499,
  E_FILE: 400,
  E_BAD_ANSWER: 502,
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** `{ error: { code, message } }` with the code's status, or `status` where a route says otherwise (421, 405, a page not built). */
export function sendError(res: ServerResponse, code: ErrorCode, message: string, status = HTTP_STATUS[code]): void {
  sendJson(res, status, { error: { code, message } });
}

/** An UpwireError as an answer: its code's status, and Retry-After when it says when to come back. */
export function sendUpwireError(res: ServerResponse, err: UpwireError): void {
  const retryAfterMs = err.details.retryAfterMs;
  if (typeof retryAfterMs === 'number') res.setHeader('Retry-After', Math.ceil(retryAfterMs / 1000));
  sendError(res, err.code, err.message);
}

export function unauthorized(res: ServerResponse): void {
  res.setHeader('WWW-Authenticate', 'Bearer');
  sendError(res, 'E_UNAUTHORIZED', 'missing or wrong token');
}

/**
 * Streams a body and closes the source whatever happens: a reader that goes away early, or one that
 * stops reading for `timeoutMs`, must not keep a file descriptor (or the bytes queued for it).
 */
export async function stream(source: Readable, res: ServerResponse, timeoutMs: number): Promise<void> {
  res.setTimeout(timeoutMs, () => res.destroy(new Error(`no progress in ${timeoutMs} ms`)));
  await pipeline(source, res).catch(() => {}); // the response is gone already; pipeline has closed the source
}
