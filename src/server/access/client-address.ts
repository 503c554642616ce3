import type { IncomingHttpHeaders } from 'node:http';

/**
 * The client's address. Behind reverse proxies every connection comes from the nearest proxy, so
 * with TRUST_PROXY = n the address is the n-th hop from the end of X-Forwarded-For: each proxy
 * appends the address it saw, and hops before those are whatever the client claimed. With 0 the
 * header is ignored: any client could send one, and the per-address caps would count what it says.
 */
export function clientAddress(headers: IncomingHttpHeaders, remote: string | undefined, trustProxy: number): string {
  if (trustProxy > 0) {
    const forwarded = headers['x-forwarded-for'];
    const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((hop) => hop.trim()).filter(Boolean);
    const hop = hops.at(-trustProxy);
    if (hop !== undefined && hop.length <= 64) return hop;
  }
  return remote ?? '';
}
