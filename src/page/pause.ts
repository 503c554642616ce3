import { UpwireError, type Md5Hasher } from '../client/browser.js';

/** One file's pause state, which the queue, its uploader and its hasher all follow. */
export class PauseGate {
  #resumed: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #onPause = new Set<() => void>();

  get paused(): boolean {
    return this.#resumed !== undefined;
  }

  pause(): void {
    if (this.#resumed) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#resumed = { promise, resolve };
    for (const listener of [...this.#onPause]) listener();
  }

  resume(): void {
    const resumed = this.#resumed;
    this.#resumed = undefined;
    resumed?.resolve();
  }

  /** Resolves when not paused, or when `signal` aborts (the caller looks at the signal). */
  async unpaused(signal: AbortSignal): Promise<void> {
    const resumed = this.#resumed;
    if (!resumed || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      void resumed.promise.then(done);
    });
  }

  /** Calls `listener` at every pause; returns the function that removes it. */
  onPause(listener: () => void): () => void {
    this.#onPause.add(listener);
    return () => this.#onPause.delete(listener);
  }
}

/**
 * A hasher that stops while its gate is paused. The worker hashes a whole Blob in one go and an MD5
 * state cannot be handed from one worker to the next, so a pause stops the worker (no more reading
 * or CPU) and a resume hashes again from the start; the progress it reports never goes back, so the
 * bar holds until the new pass gets past the point where the pause found it.
 */
export function pausableHasher(inner: Md5Hasher, gate: PauseGate): Md5Hasher {
  return async (source, onProgress, signal) => {
    let reported = 0;
    const report = (bytes: number) => {
      if (bytes <= reported) return;
      reported = bytes;
      onProgress(bytes);
    };
    while (true) {
      await gate.unpaused(signal);
      if (signal.aborted) throw new UpwireError('E_ABORTED');
      const pass = new AbortController();
      const stop = () => pass.abort();
      signal.addEventListener('abort', stop, { once: true });
      const forget = gate.onPause(stop);
      try {
        return await inner(source, report, pass.signal);
      } catch (err) {
        // Stopped by a pause (not by the upload's own abort, nor a read error): hash again once resumed.
        if (signal.aborted || !pass.signal.aborted) throw err;
      } finally {
        signal.removeEventListener('abort', stop);
        forget();
      }
    }
  };
}
