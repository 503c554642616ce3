import type { Authorize } from './access.js';

export type { Authorize, AuthorizeRequest, Principal } from './access.js';

/**
 * What an embedding application can hook into; each hook is awaited where it sits. A hook refuses
 * by throwing an UpwireError with the code the client should see (E_FORBIDDEN, E_TOO_LARGE, ...);
 * any other error counts as E_INTERNAL.
 */
export interface UpwireHooks {
  /** Who a socket connection or an HTTP request is from (see access.ts); replaces the shared tokens. */
  authorize?: Authorize;
}
