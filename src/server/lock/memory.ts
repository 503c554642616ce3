import { UpwireError } from '../../protocol/index.js';
import type { Lock, Locker } from './types.js';

interface Queue { held: boolean; waiting: (() => void)[] }

/** Locks within this process: the single-node default. */
export class MemoryLocker implements Locker {
  readonly #queues = new Map<string, Queue>();
  #tokens = 0;

  acquire(key: string, signal?: AbortSignal): Promise<Lock> {
    if (signal?.aborted) return Promise.reject(new UpwireError('E_ABORTED', 'gave up waiting for a lock'));
    let queue = this.#queues.get(key);
    if (!queue) this.#queues.set(key, (queue = { held: false, waiting: [] }));
    const grant = (): Lock => {
      queue.held = true;
      let released = false;
      return {
        token: ++this.#tokens,
        signal: new AbortController().signal, // a lock in this process cannot be lost
        release: async () => {
          if (released) return;
          released = true;
          const next = queue.waiting.shift();
          if (next) return next();
          queue.held = false;
          this.#queues.delete(key);
        },
      };
    };
    if (!queue.held) return Promise.resolve(grant());
    return new Promise((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(grant());
      };
      const onAbort = () => {
        queue.waiting.splice(queue.waiting.indexOf(turn), 1);
        reject(new UpwireError('E_ABORTED', 'gave up waiting for a lock'));
      };
      queue.waiting.push(turn);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {}
}
