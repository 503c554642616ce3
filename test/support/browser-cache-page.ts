import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { HASH_CACHE_DB, HASH_CACHE_STORE } from '../../src/client/browser-hash-cache.js';
import type { CacheEntry } from '../../src/client/hash-cache.js';

/**
 * The compiled browser-hash-cache.js bundled into a classic script that sets `window.upwireCache`,
 * so a test drives the class itself in Chromium (the page's own bundle does not expose it).
 */
export async function hashCacheScript(): Promise<string> {
  const entry = fileURLToPath(new URL('../../src/client/browser-hash-cache.js', import.meta.url));
  const out = await build({ entryPoints: [entry], bundle: true, write: false, format: 'iife', globalName: 'upwireCache', platform: 'browser', logLevel: 'silent' });
  return out.outputFiles[0]!.text;
}

/**
 * Reads (no `entry`) or writes one record of the page's cache straight through IndexedDB, as
 * another writer would: the database must exist (the page creates it on its first upload).
 */
export function cacheRecord(page: Page, identity: string, entry?: CacheEntry): Promise<unknown> {
  return page.evaluate(([name, storeName, key, value]) => new Promise((resolve, reject) => {
    const open = indexedDB.open(name);
    // No database yet: do not create one without the page's store.
    open.onupgradeneeded = () => open.transaction?.abort();
    open.onerror = () => reject(new Error(`cannot open ${name}: ${open.error?.message}`));
    open.onsuccess = () => {
      const db = open.result;
      try {
        const tx = db.transaction(storeName, value ? 'readwrite' : 'readonly');
        const store = tx.objectStore(storeName);
        const request = value ? store.put(value, key) : store.get(key);
        tx.oncomplete = () => {
          db.close();
          resolve(value ? undefined : request.result);
        };
        tx.onabort = () => reject(tx.error);
      } catch (err) {
        db.close();
        reject(err);
      }
    };
  }), [HASH_CACHE_DB, HASH_CACHE_STORE, identity, entry] as const);
}
