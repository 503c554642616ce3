import { Readable } from 'node:stream';
import type { ByteStore, ByteStoreCapabilities, PartialBytes } from './types.js';

/**
 * Bytes in memory, nothing durable: for tests of what sits above the store (sessions, the prefix
 * hash), and the simplest implementation of the contract. Not for production.
 */
export class MemoryBytes implements ByteStore {
  readonly capabilities: ByteStoreCapabilities;
  readonly #partials = new Map<string, Growable>();
  readonly #sealed = new Map<string, Growable>();
  readonly #stored = new Map<string, Uint8Array>();

  constructor(capabilities: Partial<ByteStoreCapabilities> = {}, private readonly free = Number.MAX_SAFE_INTEGER) {
    this.capabilities = { minPartSize: 1, maxPartSize: 16 * 1024 * 1024, maxParts: 1_048_576, readBack: true, durableOnFlush: false, ...capabilities };
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  partial(id: string): PartialBytes {
    return access(this.#partials, id);
  }

  /** A copy of the partial bytes, which later writes to the partial do not change; earlier attempts' copies go. */
  async seal(id: string, attempt: number): Promise<PartialBytes> {
    for (const key of this.#sealed.keys()) if (key.startsWith(`${id}/`)) this.#sealed.delete(key);
    const entry = this.#partials.get(id);
    const copy = new Growable();
    if (entry) copy.write(0, entry.data.subarray(0, entry.length));
    this.#sealed.set(`${id}/${attempt}`, copy);
    return access(this.#sealed, `${id}/${attempt}`);
  }

  async removePartial(id: string): Promise<void> {
    this.#partials.delete(id);
    for (const key of this.#sealed.keys()) if (key.startsWith(`${id}/`)) this.#sealed.delete(key);
  }

  async commit(id: string, md5: string, { attempt }: { attempt?: number }): Promise<'stored' | 'exists'> {
    const key = attempt === undefined ? id : `${id}/${attempt}`;
    const source = attempt === undefined ? this.#partials : this.#sealed;
    const entry = source.get(key);
    if (!entry) throw new Error(`no ${attempt === undefined ? 'partial bytes' : 'sealed copy'} for ${key}`);
    source.delete(key);
    if (this.#stored.has(md5)) return 'exists';
    this.#stored.set(md5, entry.data.slice(0, entry.length));
    return 'stored';
  }

  async storedSize(md5: string): Promise<number | undefined> {
    return this.#stored.get(md5)?.length;
  }

  readStored(md5: string, start: number, end: number): Readable {
    const data = this.#stored.get(md5);
    if (!data) return new Readable({ read() { this.destroy(new Error(`no stored file ${md5}`)); } });
    return Readable.from([Buffer.from(data.subarray(start, end + 1))]);
  }

  async removeStored(md5: string): Promise<void> {
    this.#stored.delete(md5);
  }

  async freeBytes(): Promise<number> {
    let used = 0;
    for (const entry of this.#partials.values()) used += entry.length;
    for (const data of this.#stored.values()) used += data.length;
    return Math.max(0, this.free - used);
  }
}

/** Partial bytes kept under `md5` in `store`, created on the first write. */
function access(store: Map<string, Growable>, md5: string): PartialBytes {
  const bytes = () => {
    let entry = store.get(md5);
    if (!entry) store.set(md5, (entry = new Growable()));
    return entry;
  };
  return {
    write: async (position, data) => bytes().write(position, data),
    flush: async () => {},
    read: async (position, length, into) => {
      const entry = store.get(md5);
      if (!entry || position + length > entry.length) throw new Error(`only ${entry?.length ?? 0} bytes, expected ${position + length}`);
      into.set(entry.data.subarray(position, position + length));
      return into.subarray(0, length);
    },
    size: async () => store.get(md5)?.length ?? -1,
    release: async () => {},
  };
}

class Growable {
  data = new Uint8Array(0);
  length = 0;

  write(position: number, bytes: Uint8Array): void {
    const end = position + bytes.length;
    if (end > this.data.length) {
      const grown = new Uint8Array(Math.max(end, this.data.length * 2));
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(bytes, position);
    this.length = Math.max(this.length, end);
  }
}
