import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { HASH_CACHE_ENTRIES, keepRecent, type CacheEntry, type HashCache } from './hash-cache.js';

const MD5 = /^[0-9a-f]{32}$/;

/** `$XDG_CACHE_HOME/upwire/md5.json`, or `~/.cache/upwire/md5.json`. */
export function defaultHashCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'upwire', 'md5.json');
}

/**
 * The md5 cache in one small JSON file (about 120 bytes an entry, at most `limit` entries), read
 * once and written whole through a temp file and a rename, so a reader never sees half of it.
 * Several processes at once: the last writer wins, which loses entries, never corrupts them. An
 * unreadable file counts as empty. It is a cache: every failure to use it is silent.
 */
export class FileHashCache implements HashCache {
  #entries: Promise<Map<string, CacheEntry>> | undefined;

  constructor(readonly path: string = defaultHashCachePath(), private readonly limit = HASH_CACHE_ENTRIES) {}

  async get(identity: string): Promise<string | undefined> {
    const entries = await this.#load();
    const entry = entries.get(identity);
    if (!entry) return undefined;
    // Used now: written back when that moves it much, so an entry read often is not the first dropped.
    const stale = Date.now() - entry.usedAt > 3600_000;
    entry.usedAt = Date.now();
    if (stale) await this.#save(entries);
    return entry.md5;
  }

  async set(identity: string, md5: string): Promise<void> {
    const entries = await this.#load();
    entries.set(identity, { md5, usedAt: Date.now() });
    await this.#save(entries);
  }

  async delete(identity: string): Promise<void> {
    const entries = await this.#load();
    if (entries.delete(identity)) await this.#save(entries);
  }

  #load(): Promise<Map<string, CacheEntry>> {
    this.#entries ??= readFile(this.path, 'utf8').then(parse, () => new Map<string, CacheEntry>());
    return this.#entries;
  }

  async #save(entries: Map<string, CacheEntry>): Promise<void> {
    const kept = keepRecent(entries, this.limit);
    this.#entries = Promise.resolve(kept);
    const temp = `${this.path}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await writeFile(temp, JSON.stringify({ version: 1, entries: [...kept] }), { mode: 0o600 });
      await rename(temp, this.path);
    } catch {
      // a cache that cannot be written is only a slower upload next time
    }
  }
}

function parse(text: string): Map<string, CacheEntry> {
  const entries = new Map<string, CacheEntry>();
  try {
    const { version, entries: list } = JSON.parse(text) as { version?: unknown; entries?: unknown };
    if (version !== 1 || !Array.isArray(list)) return entries;
    for (const item of list as unknown[]) {
      if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
      const { md5, usedAt } = (item[1] ?? {}) as Partial<CacheEntry>;
      if (typeof md5 === 'string' && MD5.test(md5) && typeof usedAt === 'number') entries.set(item[0], { md5, usedAt });
    }
  } catch {
    // unreadable: start empty
  }
  return entries;
}
