import { UpwireError } from '../protocol/index.js';

/**
 * `promise`, or E_ABORTED as soon as `signal` aborts. An abort must not wait for a server: on a
 * shared connection (which an abort leaves open) an answer may take until the timeout, or never come.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {}); // its failure, if any, no longer matters to anyone
    return Promise.reject(new UpwireError('E_ABORTED'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new UpwireError('E_ABORTED'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
