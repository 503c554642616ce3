import type { Readable } from 'node:stream';
import type { ByteStore } from '../bytes/types.js';
import { sha256OfStream, storedContent } from './digests.js';

/** Files waiting for their SHA-256 at most; a merge beyond leaves its record without one. */
export const MAX_PENDING_SHA256 = 10_000;
/** A pass waits while frames are arriving, but a file waits no longer than this. */
export const MAX_SHA256_DELAY_MS = 60_000;
/** How often a waiting pass looks again. */
const IDLE_POLL_MS = 200;

export interface Sha256RecordsDeps {
  bytes: Pick<ByteStore, 'readStored'>;
  /** Adds the digest to the file's record (under the md5's lock; a record gone meanwhile stays gone). */
  record: (md5: string, sha256: string) => Promise<void>;
  failed?: (err: unknown, what: string) => void;
  /** True while uploads are receiving bytes: a pass then waits (up to MAX_SHA256_DELAY_MS). */
  busy?: () => boolean;
}

/**
 * SHA256=background: each stored file's SHA-256 is computed after its merge, read back from the
 * store (the page cache, for a file just written), one file at a time in the order merged, and added
 * to its record. The merge answers without waiting for it: the MD5 check is what guards the content,
 * the SHA-256 is only a record, so the upload's critical path carries one hash instead of two.
 * It is background work: a file's pass starts once no frame is arriving (or after it has waited
 * MAX_SHA256_DELAY_MS), so it does not compete with uploads still under way. Not persisted: a file whose pass a stop interrupted keeps a record without `sha256`.
 */
export class Sha256Records {
  readonly #deps: Sha256RecordsDeps;
  readonly #pending: { md5: string; size: number; since: number }[] = [];
  #running: Promise<void> | undefined;
  #reading: Readable | undefined;
  #closed = false;
  /** Ends the wait of a pass for quiet (at close). */
  #wake: (() => void) | undefined;

  constructor(deps: Sha256RecordsDeps) {
    this.#deps = deps;
  }

  /** Queues a stored file; false when the queue is full or closed (its record stays without one). */
  add(md5: string, size: number): boolean {
    if (this.#closed || this.#pending.length >= MAX_PENDING_SHA256) return false;
    this.#pending.push({ md5, size, since: Date.now() });
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
    this.#wake?.();
    await this.#running;
  }

  /** Resolves once no upload is receiving bytes, `since` is MAX_SHA256_DELAY_MS old, or on close. */
  async #quiet(since: number): Promise<void> {
    while (!this.#closed && this.#deps.busy?.() && Date.now() - since < MAX_SHA256_DELAY_MS) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, IDLE_POLL_MS).unref();
      });
    }
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    for (let next = this.#pending.shift(); next && !this.#closed; next = this.#pending.shift()) {
      const { md5, size, since } = next;
      await this.#quiet(since);
      if (this.#closed) return;
      try {
        this.#reading = storedContent(this.#deps.bytes, md5, size);
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
