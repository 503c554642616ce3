import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { MiB } from '../protocol/index.js';
import { HASH_CACHE_ENTRIES, keepRecent, type CacheEntry, type HashCache } from './hash-cache.js';

const MD5 = /^[0-9a-f]{32}$/;
/** A cache file this big was not written by us (10,000 entries of about 120 bytes): it is not read. */
export const HASH_CACHE_MAX_BYTES = 4 * MiB;

/** `$XDG_CACHE_HOME/upwire/md5.json`, or `~/.cache/upwire/md5.json`. */
export function defaultHashCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'upwire', 'md5.json');
}

/**
 * The md5 cache in one small JSON file (about 120 bytes an entry, at most `limit` entries), read
 * once and written whole through a temp file and a rename, so a reader never sees half of it.
 * Entries are kept in the order they were used (a use moves one to the end), so which is newer
 * does not depend on the clock's resolution. Several processes at once: the last writer wins,
 * which loses entries, never corrupts them. It is a cache: every failure to use it is silent, and
 * anything at the path but a regular file of at most HASH_CACHE_MAX_BYTES counts as empty.
 */
export class FileHashCache implements HashCache {
  #entries: Promise<Map<string, CacheEntry>> | undefined;
  /** Whether a save may replace what is at the path: nothing there, or a regular file. */
  #replaceable = false;

  constructor(readonly path: string = defaultHashCachePath(), private readonly limit = HASH_CACHE_ENTRIES) {}

  async get(identity: string): Promise<string | undefined> {
    const entries = await this.#load();
    const entry = entries.get(identity);
    if (!entry) return undefined;
    // Used now: moved to the end, and written back when that moves it much, so an entry read often is not the first dropped.
    const stale = Date.now() - entry.usedAt > 3600_000;
    entries.delete(identity);
    entries.set(identity, { md5: entry.md5, usedAt: Date.now() });
    if (stale) await this.#save(entries);
    return entry.md5;
  }

  async set(identity: string, md5: string): Promise<void> {
    const entries = await this.#load();
    entries.delete(identity); // re-inserted: the newest
    entries.set(identity, { md5, usedAt: Date.now() });
    await this.#save(entries);
  }

  async delete(identity: string): Promise<void> {
    const entries = await this.#load();
    if (entries.delete(identity)) await this.#save(entries);
  }

  #load(): Promise<Map<string, CacheEntry>> {
    this.#entries ??= readCacheFile(this.path).then(({ text, replaceable }) => {
      this.#replaceable = replaceable;
      return text === undefined ? new Map<string, CacheEntry>() : parse(text);
    });
    return this.#entries;
  }

  async #save(entries: Map<string, CacheEntry>): Promise<void> {
    const kept = keepRecent(entries, this.limit);
    this.#entries = Promise.resolve(kept);
    // A FIFO, a device or a directory someone put there is left alone: the cache stays in memory.
    if (!this.#replaceable) return;
    // A name of its own for each save (two saves of this process may overlap), created here
    // (O_EXCL): never something already there, which could be a FIFO that blocks the open.
    const temp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await file.writeFile(JSON.stringify({ version: 1, entries: [...kept] }));
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
    } catch {
      // a cache that cannot be written is only a slower upload next time
      await rm(temp, { force: true }).catch(() => {});
    }
  }
}

/**
 * The cache file's text, if it is a regular file of at most HASH_CACHE_MAX_BYTES, and whether a
 * save may replace what is at the path. Opened without blocking, then checked through the handle:
 * opening a FIFO for reading blocks until a writer comes (holding a thread of the pool, so the
 * process could not even exit), and checking the path before opening it would leave a moment for
 * a swap. O_NONBLOCK does not change how a regular file reads (POSIX; undefined on Windows).
 */
async function readCacheFile(path: string): Promise<{ text?: string; replaceable: boolean }> {
  let file: FileHandle;
  try {
    file = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    // Nothing there yet: the first save creates it. Anything else (no access, a loop of links): leave it.
    return { replaceable: (err as NodeJS.ErrnoException).code === 'ENOENT' };
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile()) return { replaceable: false };
    if (stats.size > HASH_CACHE_MAX_BYTES) return { replaceable: true };
    // One byte more than the stat said, to see a file that grows as it is read: saves replace the
    // file whole, so something else is writing it in place, and it is not read past the cap.
    const buffer = Buffer.alloc(stats.size + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return length > stats.size ? { replaceable: true } : { text: buffer.toString('utf8', 0, length), replaceable: true };
  } catch {
    return { replaceable: false };
  } finally {
    await file.close();
  }
}

/** The entries of a cache file, in the order they were used: by `usedAt`, and in the file's order for a tie. */
function parse(text: string): Map<string, CacheEntry> {
  const found: [string, CacheEntry][] = [];
  try {
    const { version, entries: list } = JSON.parse(text) as { version?: unknown; entries?: unknown };
    if (version !== 1 || !Array.isArray(list)) return new Map();
    for (const item of list as unknown[]) {
      if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
      const { md5, usedAt } = (item[1] ?? {}) as Partial<CacheEntry>;
      if (typeof md5 === 'string' && MD5.test(md5) && typeof usedAt === 'number' && Number.isFinite(usedAt)) found.push([item[0], { md5, usedAt }]);
    }
  } catch {
    // unreadable: start empty
  }
  // Files this version writes are in that order already; older versions wrote another.
  return new Map(found.sort((a, b) => a[1].usedAt - b[1].usedAt));
}
