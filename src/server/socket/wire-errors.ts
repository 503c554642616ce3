import { UpwireError, type WireError } from '../../protocol/index.js';

/** Where an error no code covers is told (the log): the client gets E_INTERNAL. */
export type ErrorLogger = (err: unknown, event: string) => void;

/**
 * The shared state cannot be reached or written now (a store's StoreUnavailable, whatever its
 * class: Redis unreachable, a lock lost, a stale fence), anywhere in the chain of causes: the
 * request is worth retrying.
 */
function isUnavailable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if ((e as { code?: unknown }).code === 'E_STORE_UNAVAILABLE') return true;
  return false;
}

export function toWireError(err: unknown, event: string, logError: ErrorLogger): WireError {
  if (err instanceof UpwireError) return err.toWire();
  if (isUnavailable(err)) {
    return new UpwireError('E_BUSY', 'the server\'s shared state is unreachable for now; retry', { retryAfterMs: 1000 }).toWire();
  }
  if (isNoSpace(err)) return new UpwireError('E_NO_SPACE', 'the server ran out of disk space; try again later').toWire();
  logError(err, event);
  return new UpwireError('E_INTERNAL').toWire();
}

function isNoSpace(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || /no space left/i.test(e.message)) return true;
  }
  return false;
}
