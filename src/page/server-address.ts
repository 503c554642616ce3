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

/** What the server wrote into the page's meta tag; nothing from a page served by something else. */
function told(): { socketPath?: unknown; namespace?: unknown; maxFileSize?: unknown } {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="upwire-socket"]')?.content;
  try {
    const parsed: unknown = meta ? JSON.parse(meta) : {};
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {}; // the defaults
  }
}

/** The largest file the server takes (bytes), when it said. */
export function serverLimits(): { maxFileSize?: unknown } {
  return { maxFileSize: told().maxFileSize };
}

export function serverAddress(): ServerAddress {
  const said = told();
  const socketPath = typeof said.socketPath === 'string' ? said.socketPath : 'socket.io';
  return {
    url: location.origin,
    path: new URL(socketPath, location.href).pathname,
    namespace: typeof said.namespace === 'string' ? said.namespace : '/upload',
  };
}

/** A server address of the HTTP side (files, downloads), relative to the page. */
export function pageRelative(path: string): string {
  return new URL(path.replace(/^\//, ''), location.href).toString();
}
