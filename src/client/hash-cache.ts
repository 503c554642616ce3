/**
 * Remembers the md5 of a file by its identity (see FileSource.identity): a key that changes
 * whenever the content may have changed. A resume or a re-upload of an unchanged file then starts
 * at once instead of hashing it again. A cache may be wrong (a file changed without its identity
 * changing). When the upload goes through a merge, the server's check catches that, and the
 * uploader then forgets the entry, hashes again and starts over; when the server answers that it
 * has the file already, nothing of ours is checked, so the uploader hashes the file to confirm the
 * md5 before it reports the file as there (see core.ts).
 */
export interface HashCache {
  get(identity: string): Promise<string | undefined>;
  set(identity: string, md5: string): Promise<void>;
  delete(identity: string): Promise<void>;
}

/** Entries kept; beyond, the ones used longest ago are dropped. */
export const HASH_CACHE_ENTRIES = 10_000;

export interface CacheEntry { md5: string; usedAt: number }

/**
 * The entries to keep of `entries`, which are in the order they were used, longest ago first: the
 * last `limit`. The order, not `usedAt`, says which is newer: uses in the same clock tick tie.
 */
export function keepRecent(entries: Map<string, CacheEntry>, limit: number): Map<string, CacheEntry> {
  if (entries.size <= limit) return entries;
  return new Map([...entries].slice(entries.size - limit));
}
