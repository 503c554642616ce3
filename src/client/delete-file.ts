import { parseDeleteAnswer, parseMd5, type DeleteAnswer } from '../protocol/index.js';
import { Connection, type TokenSource } from './connection.js';
import { DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS } from './core.js';

export interface DeleteOptions {
  url: string;
  /** The upload token, or what the server's authorize hook takes (or a function giving one). */
  token?: TokenSource;
  /** The stored file's md5 (32 hex digits). */
  md5: string;
  /** As for uploads: socket.io's path and upwire's namespace on the server. */
  path?: string;
  namespace?: string;
  retries?: number;
  timeoutMs?: number;
}

/**
 * Deletes a stored file for the caller, over a connection of its own: the caller's entry, and the
 * content once no principal has one. Rejects with the server's error: E_NOT_FOUND when the caller
 * has no such file (whoever else may have it), E_FORBIDDEN when the server does not let it delete.
 * Not retried after it was sent: a delete answered late may have happened.
 */
export async function deleteFile(options: DeleteOptions): Promise<DeleteAnswer> {
  const { url, token, path, namespace, retries = DEFAULT_RETRIES, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
  const md5 = parseMd5(options.md5);
  const connection = new Connection({
    url, retries, timeoutMs,
    ...(token === undefined ? {} : { token }), ...(path === undefined ? {} : { path }), ...(namespace === undefined ? {} : { namespace }),
  });
  try {
    await connection.connected();
    return parseDeleteAnswer(await connection.request('delete', { md5 }), { md5 });
  } finally {
    connection.close();
  }
}
