import type { IncomingHttpHeaders } from 'node:http';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, UpwireError } from '../../protocol/index.js';
import type { ServerConfig } from '../config/config.js';
import type { Authorize, AuthorizeRequest } from '../model/hooks.js';
import { EVERYONE, type Principal } from '../model/principal.js';
import { allowedHosts, bearerToken, hostAllowed, originAllowed, roleOf } from './auth.js';


type AccessConfig = Pick<ServerConfig, 'uploadToken' | 'watchToken' | 'allowedOrigins' | 'allowedHosts' | 'host'> & Partial<Pick<ServerConfig, 'deletes'>>;

export class Access {
  readonly #hosts: string[] | undefined;

  constructor(
    private readonly config: AccessConfig,
    private readonly authorize: Authorize | undefined,
  ) {
    this.#hosts = authorize ? config.allowedHosts : allowedHosts(config);
  }

  /** Files and uploads are kept per principal (an authorize hook names them), not for EVERYONE. */
  get perPrincipal(): boolean {
    return this.authorize !== undefined;
  }

  /**
   * Whether `principal` may delete stored files (DELETES): by default only one that authenticated,
   * by the upload token or the authorize hook. Without either, anyone who reaches the server could
   * list every file (GET /files) and delete them all, which a content-addressed store open for
   * uploads (whose writes only add) does not otherwise risk.
   */
  deleteRefused(principal: Principal): string | undefined {
    const deletes = this.config.deletes ?? 'auth';
    if (principal.role !== 'upload') return 'deleting is for the upload token or role';
    if (deletes === 'off') return 'deleting files is off on this server (DELETES=off)';
    if (deletes === 'auth' && !this.authorize && this.config.uploadToken === undefined) {
      return 'this server has no token: deleting needs UPLOAD_TOKEN or an authorize hook, or DELETES=open';
    }
    return undefined;
  }

  /** The Host and Origin rules (see auth.ts): true when a request may be answered at all. */
  hostAllowed(headers: IncomingHttpHeaders): boolean {
    return hostAllowed(headers.host, this.#hosts);
  }

  /**
   * A socket handshake: its origin, host, protocol version, then who it is. Throws the refusal.
   *
   * With an authorize hook and no ALLOWED_ORIGINS, a browser's socket is let in only from the
   * server's own origin (Origin naming the Host it was sent to): a hook may trust a cookie, and a
   * WebSocket is not subject to CORS, so any site a user visits could otherwise open a socket with
   * that user's cookie (cross-site WebSocket hijacking). A DNS-rebinding page can match Origin and
   * Host, but the browser sends it the cookies of its own site, never this one's.
   */
  async socket(headers: IncomingHttpHeaders, auth: Record<string, unknown>, address: string): Promise<Principal> {
    if (!originAllowed(headers.origin, this.config.allowedOrigins) || !this.hostAllowed(headers)) {
      throw new UpwireError('E_FORBIDDEN', 'this origin or host name is not allowed here (ALLOWED_ORIGINS, ALLOWED_HOSTS)');
    }
    if (this.authorize && this.config.allowedOrigins === undefined && !sameOrigin(headers.origin, headers.host)) {
      throw new UpwireError('E_FORBIDDEN', 'a page of another origin may not open a socket here: list it in allowedOrigins');
    }
    // Clients of an older version still in use speak a subset (protocol 2: no preflight).
    const stated = auth.protocol;
    if (typeof stated !== 'number' || !Number.isInteger(stated) || stated < MIN_PROTOCOL_VERSION || stated > PROTOCOL_VERSION) {
      throw new UpwireError('E_PROTOCOL', `this server speaks protocols ${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION}; the client states ${JSON.stringify(auth.protocol ?? 1)}`, { server: PROTOCOL_VERSION });
    }
    return this.#principal({ kind: 'socket', headers, address, token: auth.token });
  }

  /** An HTTP request: who it is, or undefined when it carries no credentials that name anyone. */
  async http(headers: IncomingHttpHeaders, address: string, url: URL): Promise<Principal | undefined> {
    // Download links cannot carry a header: ?token= is accepted too.
    const token = bearerToken(headers.authorization) ?? url.searchParams.get('token') ?? undefined;
    try {
      return await this.#principal({ kind: 'http', headers, address, token, url: url.pathname + url.search });
    } catch (err) {
      if (err instanceof UpwireError && err.code === 'E_UNAUTHORIZED') return undefined;
      throw err;
    }
  }

  async #principal(request: AuthorizeRequest): Promise<Principal> {
    if (!this.authorize) {
      const role = roleOf(request.token, this.config);
      if (!role) throw new UpwireError('E_UNAUTHORIZED', 'missing or wrong token');
      return { id: EVERYONE, role };
    }
    let principal: Principal | undefined;
    try {
      principal = await this.authorize(request);
    } catch (err) {
      if (err instanceof UpwireError) throw err;
      throw new UpwireError('E_UNAUTHORIZED', 'refused', {}, { cause: err });
    }
    if (!principal) throw new UpwireError('E_UNAUTHORIZED', 'refused');
    // Entries and uploads are keyed by the id (store/level.ts, upload-id.ts): no control characters,
    // and well-formed Unicode: a lone surrogate becomes U+FFFD in UTF-8, so "\uD800" would share
    // the files of "\uFFFD".
    // eslint-disable-next-line no-control-regex
    if (typeof principal.id !== 'string' || !principal.id.isWellFormed() || !/^[^\u0000-\u001f\u007f]{1,200}$/.test(principal.id)) {
      throw new UpwireError('E_INTERNAL', 'the authorize hook must answer a principal with an id of 1 to 200 characters of well-formed Unicode, none a control character');
    }
    return { ...principal, role: principal.role === 'watch' ? 'watch' : 'upload' };
  }
}

/** No Origin (not a browser), or an Origin whose host and port are the Host the request was sent to. */
function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (host === undefined) return false;
  try {
    return new URL(origin).host === new URL(`http://${host}`).host;
  } catch {
    return false;
  }
}
