import { Readable } from 'node:stream';
import type { ByteStore } from './bytes/types.js';
import { sha256OfStream } from './digests.js';

/** Files waiting for their SHA-256 at most; a merge beyond leaves its record without one. */
export const MAX_PENDING_SHA256 = 10_000;

export interface Sha256RecordsDeps {
  bytes: Pick<ByteStore, 'readStored'>;
  /** Adds the digest to the file's record (under the md5's lock; a record gone meanwhile stays gone). */
  record: (md5: string, sha256: string) => Promise<void>;
  failed?: (err: unknown, what: string) => void;
}

/**
 * SHA256=background: each stored file's SHA-256 is computed after its merge, read back from the
 * store (the page cache, for a file just written), one file at a time in the order merged, and added
 * to its record. The merge answers without waiting for it: the MD5 check is what guards the content,
 * the SHA-256 is only a record, so the upload's critical path carries one hash instead of two.
 * Not persisted: a file whose pass a stop interrupted keeps a record without `sha256`.
 */
export class Sha256Records {
  readonly #deps: Sha256RecordsDeps;
  readonly #pending: { md5: string; size: number }[] = [];
  #running: Promise<void> | undefined;
  #reading: Readable | undefined;
  #closed = false;

  constructor(deps: Sha256RecordsDeps) {
    this.#deps = deps;
  }

  /** Queues a stored file; false when the queue is full or closed (its record stays without one). */
  add(md5: string, size: number): boolean {
    if (this.#closed || this.#pending.length >= MAX_PENDING_SHA256) return false;
    this.#pending.push({ md5, size });
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
    return true;
  }

  /** Resolves once every file queued so far has been recorded (or failed). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops: the file being read is abandoned, the queue dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#pending.length = 0;
    this.#reading?.destroy();
    await this.#running;
  }

  async #run(): Promise<void> {
    for (let next = this.#pending.shift(); next && !this.#closed; next = this.#pending.shift()) {
      const { md5, size } = next;
      try {
        this.#reading = size === 0 ? Readable.from([]) : this.#deps.bytes.readStored(md5, 0, size - 1);
        const sha256 = await sha256OfStream(this.#reading);
        if (!this.#closed) await this.#deps.record(md5, sha256);
      } catch (err) {
        if (!this.#closed) this.#deps.failed?.(err, `the SHA-256 of ${md5}`);
      } finally {
        this.#reading = undefined;
      }
    }
  }
}
