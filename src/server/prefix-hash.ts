import { createHash, type Hash } from 'node:crypto';
import type { Digests } from './disk.js';

/** Chunks kept in memory while they wait for the prefix to reach them; beyond this they are re-read. */
const MAX_PENDING = 4;

/**
 * MD5 and SHA-256 of the upload's contiguous prefix, advanced as chunks are stored, so the merge of an in-order
 * upload needs no second read of the file. A chunk that lands ahead of the prefix is held (a few at
 * most) or, later, read back from the temp file; after a restart the whole file is read once.
 */
export class PrefixHasher {
  #md5: Hash = createHash('md5');
  #sha256: Hash = createHash('sha256');
  #next = 0;
  #pending = new Map<number, Uint8Array>();
  #running = false;
  #current: Promise<void> = Promise.resolve();

  constructor(
    private readonly total: number,
    private readonly isStored: (index: number) => boolean,
    private readonly readChunk: (index: number) => Promise<Uint8Array>,
  ) {}

  /** Feeds a chunk that is now stored; in the in-order case it is hashed at once, from memory. */
  add(index: number, data: Uint8Array): void {
    if (index >= this.#next && (index === this.#next || this.#pending.size < MAX_PENDING)) this.#pending.set(index, data);
    void this.#kick().catch(() => {}); // a failed read is retried by digest(), which reports it
  }

  /** The digests of all `total` chunks, reading from disk whatever was not hashed on arrival. */
  async digest(): Promise<Digests> {
    while (this.#next < this.total && this.isStored(this.#next)) await this.#kick();
    if (this.#next < this.total) throw new Error(`chunk ${this.#next} is not stored`);
    return { md5: this.#md5.copy().digest('hex'), sha256: this.#sha256.copy().digest('hex') };
  }

  #kick(): Promise<void> {
    if (!this.#running) this.#current = this.#drain();
    return this.#current;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#next < this.total && this.isStored(this.#next)) {
        const index = this.#next;
        let data = this.#pending.get(index);
        this.#pending.delete(index);
        data ??= await this.readChunk(index);
        this.#md5.update(data);
        this.#sha256.update(data);
        this.#next = index + 1;
      }
    } finally {
      this.#running = false;
    }
  }
}
