import SparkMD5 from 'spark-md5';
import { HASH_CACHE_ENTRIES, type CacheEntry, type HashCache } from './hash-cache.js';

/** Where the page keeps md5s: one database per origin, entries `{ md5, usedAt }` keyed by identity. */
export const HASH_CACHE_DB = 'upwire';
export const HASH_CACHE_STORE = 'md5';
const USED_AT = 'usedAt';
const VERSION = 1;
/**
 * How long an open or a transaction may take before the cache counts as unavailable. Every upload
 * waits on the cache before it hashes or sends anything, and IndexedDB can hang: in Safari 14 the
 * first `indexedDB.open()` after a page load could stay pending forever (WebKit bug 226547).
 */
const SETTLE_MS = 3000;
const MD5 = /^[0-9a-f]{32}$/;

/** Bytes sampled for a file's identity: 8 blocks of 4 KiB, the first, the last and six evenly between. */
const SAMPLES = 8;
const SAMPLE_BYTES = 4096;

/** Where a file of `size` bytes is sampled, as [start, end) ranges (fewer for a small file). */
export function sampleRanges(size: number): [number, number][] {
  if (size <= SAMPLES * SAMPLE_BYTES) return size === 0 ? [] : [[0, size]];
  const step = (size - SAMPLE_BYTES) / (SAMPLES - 1);
  return Array.from({ length: SAMPLES }, (_, i) => {
    const start = Math.round(i * step);
    return [start, start + SAMPLE_BYTES];
  });
}

/** The MD5 of the sampled blocks (spark-md5: no WebAssembly, no secure context needed, 32 KiB at most). */
export function sampleDigest(blocks: Uint8Array[]): string {
  const md5 = new SparkMD5.ArrayBuffer();
  for (const block of blocks) md5.append(new Uint8Array(block).buffer); // a copy of exactly its bytes (a Buffer's slice shares a larger one)
  return md5.end();
}

/**
 * The identity of a picked file (see BlobFileSource.identity): size, lastModified, a digest of
 * sampled blocks, and the name; the numbers first, so any name is unambiguous.
 */
export function fileIdentity(file: Pick<File, 'name' | 'size' | 'lastModified'>, samples: string): string {
  return `${file.size}:${file.lastModified}:${samples}:${file.name}`;
}

/**
 * The md5 cache in IndexedDB, shared by the tabs of one origin, at most `limit` entries: each write
 * drops the ones used longest ago, found oldest-first through an index on `usedAt` (each use above
 * every other, see putNewest) without reading their values. It is a cache: when it cannot be used
 * (private browsing, storage blocked or full, an opaque origin) every call quietly finds nothing,
 * and the upload only hashes as it would without it.
 */
export class IndexedDbHashCache implements HashCache {
  #db: Promise<IDBDatabase | undefined> | undefined;

  constructor(readonly limit = HASH_CACHE_ENTRIES, readonly name = HASH_CACHE_DB) {}

  async get(identity: string): Promise<string | undefined> {
    return this.#transact('readwrite', (store) => {
      const read = store.get(identity);
      // Found: it is used now, so it is the last to be dropped.
      read.onsuccess = () => {
        if (isEntry(read.result)) putNewest(store, identity, read.result.md5);
      };
      return () => (isEntry(read.result) ? read.result.md5 : undefined);
    });
  }

  async set(identity: string, md5: string): Promise<void> {
    await this.#transact('readwrite', (store) => {
      putNewest(store, identity, md5, () => {
        // Requests in one transaction run in order: the count includes the entry just put.
        const count = store.count();
        count.onsuccess = () => {
          let excess = count.result - this.limit;
          if (excess <= 0) return;
          const oldest = store.index(USED_AT).openKeyCursor();
          oldest.onsuccess = () => {
            const cursor = oldest.result;
            if (!cursor || excess-- <= 0) return;
            store.delete(cursor.primaryKey);
            cursor.continue();
          };
        };
      });
      return () => undefined;
    });
  }

  async delete(identity: string): Promise<void> {
    await this.#transact('readwrite', (store) => {
      store.delete(identity);
      return () => undefined;
    });
  }

  /**
   * Runs `body` in one transaction; what its returned function gives once the transaction has
   * committed, or undefined when the cache cannot be used.
   */
  async #transact<T>(mode: IDBTransactionMode, body: (store: IDBObjectStore) => () => T): Promise<T | undefined> {
    const db = await this.#open();
    if (!db) return undefined;
    return settle<T | undefined>((resolve) => {
      const tx = db.transaction(HASH_CACHE_STORE, mode);
      const result = body(tx.objectStore(HASH_CACHE_STORE));
      tx.oncomplete = () => resolve(result());
      tx.onabort = tx.onerror = () => resolve(undefined);
    }, undefined);
  }

  #open(): Promise<IDBDatabase | undefined> {
    this.#db ??= settle<IDBDatabase | undefined>((resolve) => {
      const request = indexedDB.open(this.name, VERSION);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(HASH_CACHE_STORE).createIndex(USED_AT, USED_AT);
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab opening a newer version waits for this connection to close; so does a
        // deleteDatabase. Close it, and open again on the next use.
        db.onversionchange = db.onclose = () => {
          db.close();
          this.#db = undefined;
        };
        resolve(db);
      };
      request.onerror = request.onblocked = () => resolve(undefined);
    }, undefined, (late) => late?.close());
    return this.#db;
  }
}

/**
 * Puts an entry as the one used last, then runs `then` in the same transaction. Its `usedAt` is
 * above every other entry's, whatever the clock says: the clock ticks coarsely and may step back,
 * and other tabs write too (read-write transactions on the store run one at a time, so the highest
 * read here is the highest there is). Only numbers are looked at: another writer's string sorts above them.
 */
function putNewest(store: IDBObjectStore, identity: string, md5: string, then?: () => void): void {
  const newest = store.index(USED_AT).openKeyCursor(IDBKeyRange.upperBound(Number.MAX_SAFE_INTEGER), 'prev');
  newest.onsuccess = () => {
    const highest = newest.result?.key;
    store.put({ md5, usedAt: Math.max(Date.now(), typeof highest === 'number' ? highest + 1 : 0) } satisfies CacheEntry, identity);
    then?.();
  };
}

function isEntry(value: unknown): value is CacheEntry {
  const md5 = (value as Partial<CacheEntry> | undefined)?.md5;
  return typeof md5 === 'string' && MD5.test(md5);
}

/**
 * A promise for what `start` resolves with, or `fallback` when it throws (IndexedDB throws
 * SecurityError where storage is blocked) or does not resolve within SETTLE_MS; a value that
 * arrives after that goes to `onLate`.
 */
function settle<T>(start: (resolve: (value: T) => void) => void, fallback: T, onLate?: (value: T) => void): Promise<T> {
  return new Promise((resolve) => {
    let done = false;
    const timer = setTimeout(() => finish(fallback), SETTLE_MS);
    function finish(value: T): void {
      if (done) return void (value !== fallback && onLate?.(value));
      done = true;
      clearTimeout(timer);
      resolve(value);
    }
    try {
      start(finish);
    } catch {
      finish(fallback);
    }
  });
}
