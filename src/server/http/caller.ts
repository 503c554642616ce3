import type { IncomingMessage } from 'node:http';
import type { Access } from '../access/access.js';
import { bearerToken } from '../access/auth.js';
import { clientAddress } from '../access/client-address.js';
import type { Principal } from '../model/principal.js';
import type { Target } from './request-target.js';

/** Who is asking (undefined: no credentials that name anyone); throws the hook's refusal. */
export function principalOf(req: IncomingMessage, target: Target, access: Access, trustProxy: number): Promise<Principal | undefined> {
  // Access reads the token and the hook's `url` from a URL. This one is built from a path parseTarget
  // accepted (one leading slash, no dot segment, no backslash), so its host is ours and its path is the one checked.
  const url = new URL(`http://upwire.invalid${target.path}${target.search}`);
  return access.http(req.headers, clientAddress(req.headers, req.socket.remoteAddress, trustProxy), url);
}

/** The request names a token (a bearer header or ?token=). */
export function hasToken(req: IncomingMessage, target: Target): boolean {
  return bearerToken(req.headers.authorization) !== undefined || target.query.has('token');
}

/**
 * The server-wide metrics (every tenant's uploads, counted): with the shared tokens, any token's
 * holder (upload or watch); with an authorize hook, only a principal of the watch role, since an
 * upload principal is a tenant, who must learn nothing of the others.
 */
export function mayReadMetrics(principal: Principal, access: Access): boolean {
  return !access.perPrincipal || principal.role === 'watch';
}
