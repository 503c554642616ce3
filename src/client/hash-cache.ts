/**
 * Remembers the md5 of a file by its identity (see FileSource.identity): a key that changes
 * whenever the content may have changed. A resume or a re-upload of an unchanged file then starts
 * at once instead of hashing it again. A cache may be wrong (a file changed without its identity
 * changing); the server's check at merge catches that, and the uploader then forgets the entry,
 * hashes again and starts over (see core.ts).
 */
export interface HashCache {
  get(identity: string): Promise<string | undefined>;
  set(identity: string, md5: string): Promise<void>;
  delete(identity: string): Promise<void>;
}

/** Entries kept; beyond, the ones used longest ago are dropped. */
export const HASH_CACHE_ENTRIES = 10_000;

export interface CacheEntry { md5: string; usedAt: number }

/** The entries to keep of `entries`: at most `limit`, the most recently used. */
export function keepRecent(entries: Map<string, CacheEntry>, limit: number): Map<string, CacheEntry> {
  if (entries.size <= limit) return entries;
  return new Map([...entries].sort((a, b) => b[1].usedAt - a[1].usedAt).slice(0, limit));
}
