/** A request target as upwire reads it: its path (inside the mount) and its query. */
export interface Target {
  path: string;
  /** '' or '?…', as sent. */
  search: string;
  query: URLSearchParams;
}

/**
 * Reads an origin-form request target (`/a/b?q`) as text, split at the first `?`. Never through
 * `new URL(target, base)`: that reads `//evil.example/files` as a host and a path, and resolves
 * `..` and `%2e%2e`, so a path outside the mount (or meaning something else) could land on a route
 * inside it. A path with an empty segment (`//`), a dot segment (`.`, `..`, percent-encoded or
 * not), an encoded slash or backslash (`%2f`, `%5c`) or a backslash is refused, never normalised:
 * no client of upwire sends one. A trailing slash is not an empty segment. Undefined when refused.
 */
export function parseTarget(target: string): Target | undefined {
  const at = target.indexOf('?');
  const path = at === -1 ? target : target.slice(0, at);
  const search = at === -1 ? '' : target.slice(at);
  if (!path.startsWith('/') || path.includes('\\') || /%(?:2f|5c)/i.test(path)) return undefined;
  const segments = path.slice(1).split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '' && i < segments.length - 1) return undefined;
    const dots = segment.replace(/%2e/gi, '.');
    if (dots === '.' || dots === '..') return undefined;
  }
  return { path, search, query: new URLSearchParams(search) };
}
