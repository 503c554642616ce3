import type { IncomingHttpHeaders } from 'node:http';
import { UpwireError, type FileInfo, type Metadata } from '../../protocol/index.js';
import type { Principal } from './principal.js';

export type { Principal } from './principal.js';

/** What the authorize hook sees of a socket handshake or an HTTP request. */
export interface AuthorizeRequest {
  kind: 'socket' | 'http';
  headers: IncomingHttpHeaders;
  /** The client's address (X-Forwarded-For's first hop with TRUST_PROXY). */
  address: string;
  /** The socket's `auth` payload (the client's `token` is in it); the HTTP request's bearer token or ?token=. */
  token: unknown;
  url?: string;
}

/**
 * Decides who a request is from: by default the shared tokens (the whole server is one principal,
 * EVERYONE), or the embedding application's `authorize` hook (a JWT, a session cookie), which answers
 * with a principal, or undefined (refused: E_UNAUTHORIZED), or throws an UpwireError of its choice.
 */
export type Authorize = (request: AuthorizeRequest) => Principal | undefined | Promise<Principal | undefined>;

/** What onUploadCreate sees: a principal starting an upload, joining one, or getting a stored file at once. */
export interface UploadCreateEvent {
  principal: Principal;
  md5: string;
  size: number;
  name: string;
  type: string;
  metadata: Metadata;
  /** True when the content is stored already (an instant upload, after a proof of possession where one is asked). */
  instant: boolean;
}

/** What onUploadComplete sees: one principal's stored file (its own name, type and metadata). */
export interface UploadCompleteEvent {
  principal: Principal;
  file: FileInfo;
  metadata: Metadata;
}

/** What onFileDeleted sees: the principal whose entry was deleted, the file as it saw it, and whether the content stays for others. */
export interface FileDeletedEvent {
  principal: Principal;
  file: FileInfo;
  /** True: other principals still have the content (only this principal's entry went); false: its bytes are gone (or go once downloads under way end). */
  stored: boolean;
}

/**
 * What an embedding application can hook into; each hook is awaited where it sits. A hook refuses
 * by throwing an UpwireError with the code the client should see (E_FORBIDDEN, E_TOO_LARGE, ...);
 * any other error counts as E_INTERNAL.
 */
export interface UpwireHooks {
  /** Who a socket connection or an HTTP request is from (see access.ts); replaces the shared tokens. */
  authorize?: Authorize;
  /**
   * Before an upload is created for a principal (quota, type filter): throw to refuse; answer
   * `{ metadata }` to replace what is kept. Not called again when the same principal resumes.
   */
  onUploadCreate?: (event: UploadCreateEvent) => void | { metadata?: Metadata } | Promise<void | { metadata?: Metadata }>;
  /**
   * After the file is verified and stored under its md5, before the client is told: once per
   * principal that took part. At least once: a crash between the store and the end of this hook
   * calls it again when the server starts, and a hook that throws is called again on the client's
   * next merge (the client gets the error meanwhile). Make it idempotent.
   */
  onUploadComplete?: (event: UploadCompleteEvent) => void | Promise<void>;
  /**
   * After a principal's entry of a stored file is deleted (and the content, with the last entry),
   * before the client is answered. Once: a hook that throws gives the client its error, and the
   * deletion stands (a retry answers E_NOT_FOUND).
   */
  onFileDeleted?: (event: FileDeletedEvent) => void | Promise<void>;
}

/**
 * `hook` held to `ms`: a call that has not settled by then rejects with a retryable E_BUSY (the hook
 * itself cannot be stopped; what it does later is ignored). A hung hook then costs one request its
 * answer for `ms`, not an upload its lock forever, nor a shutdown its end.
 */
export function withinTime<A extends unknown[], R>(name: string, ms: number, hook: (...args: A) => R | Promise<R>): (...args: A) => Promise<R> {
  return (...args) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UpwireError('E_BUSY', `the server's ${name} hook did not answer within ${ms} ms; retry`, { retryAfterMs: 1000 })), ms);
    });
    return Promise.race([Promise.resolve().then(() => hook(...args)), late]).finally(() => clearTimeout(timer));
  };
}
