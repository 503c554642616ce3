/**
 * Where this page's server is. The page may be mounted under any path (behind a proxy at
 * /uploads/, or inside another application), so every address is relative to the page itself,
 * and the server says in a meta tag where its socket.io is (a path relative to the page, or absolute).
 */
export interface ServerAddress {
  url: string;
  path: string;
  namespace: string;
}

export function serverAddress(): ServerAddress {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="upwire-socket"]')?.content;
  let told: { socketPath?: unknown; namespace?: unknown } = {};
  try {
    told = meta ? (JSON.parse(meta) as typeof told) : {};
  } catch {
    // a page served by something else than upwire: the defaults
  }
  const socketPath = typeof told.socketPath === 'string' ? told.socketPath : 'socket.io';
  return {
    url: location.origin,
    path: new URL(socketPath, location.href).pathname,
    namespace: typeof told.namespace === 'string' ? told.namespace : '/upload',
  };
}

/** A server address of the HTTP side (files, downloads), relative to the page. */
export function pageRelative(path: string): string {
  return new URL(path.replace(/^\//, ''), location.href).toString();
}
