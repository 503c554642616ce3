import { UpwireError, type CompleteStatus } from '../../protocol/index.js';
import type { ByteStore } from '../bytes/types.js';
import { entryInfo, entryOf, fileInfo } from './completion.js';
import { EVERYONE } from '../model/principal.js';
import type { UploadEvents } from '../observe/events.js';
import { Readers } from './readers.js';
import { withLock, type Guard, type Locker } from '../lock/types.js';
import type { Fence, FileEntry, FileIndex, FileRecord, UploadMeta } from '../store/types.js';
import type { FileInfo } from '../../protocol/index.js';

export interface StoredFilesDeps {
  files: FileIndex;
  bytes: ByteStore;
  locker: Locker;
  events: Pick<UploadEvents, 'lost' | 'failed'>;
  fsync: boolean;
}

/** The lock of a stored file's record and entries (upload locks are upload ids: hex, never this). */
export const fileLock = (md5: string) => `file:${md5}`;

/**
 * Stored files: what a caller may see of one, and the writes that change one's records, each
 * under the file's lock (a merge, a proof, a SHA-256 pass, a record found without its bytes).
 *
 * `owner` is the principal the caller is, where files belong to principals (an authorize hook),
 * else undefined: the server is one store for everyone and every caller sees every file.
 */
export class StoredFiles {
  /** Downloads under way on this node: a deleted file's bytes wait for them. */
  readonly readers = new Readers();

  constructor(private readonly deps: StoredFilesDeps) {}

  /**
   * A stored file as a caller sees it: the file (one store for everyone), or its own entry of it, or 'others'
   * when only other principals stored it; undefined when it is not stored. With `size`: a stored
   * file the caller may see of another size is E_SIZE_MISMATCH; one it may not see is, to it, not
   * stored (undefined), so no principal learns the size of another's file.
   */
  async view(md5: string, owner: string | undefined, size?: number): Promise<CompleteStatus | 'others' | undefined> {
    const record = await this.deps.files.getFile(md5);
    if (!record || !(await this.intact(record))) return undefined;
    const entry = owner === undefined ? undefined : await this.deps.files.getEntry(owner, md5);
    if (owner !== undefined && !entry) return size === undefined || size === record.size ? 'others' : undefined;
    if (size !== undefined && size !== record.size) throw sizeMismatch(md5, record.size);
    return { status: 'complete', file: entry ? entryInfo(entry, fileInfo(record)) : fileInfo(record) };
  }

  /** The stored file at `size` (for a proof), whoever stored it; undefined when there is none. */
  async record(md5: string, size: number): Promise<FileRecord | undefined> {
    const record = await this.deps.files.getFile(md5);
    return record && record.size === size && (await this.intact(record)) ? record : undefined;
  }

  /** True when the record's bytes are in the store at its size; otherwise the record is dropped. */
  async intact(record: FileRecord): Promise<boolean> {
    if ((await this.deps.bytes.storedSize(record.md5)) === record.size) return true;
    await this.#locked(record.md5, async ({ fence }) => {
      // Looked at again under the lock: a merge may have stored it meanwhile, or a delete dropped it.
      if ((await this.deps.bytes.storedSize(record.md5)) === record.size || !(await this.deps.files.getFile(record.md5))) return;
      await this.deps.files.deleteFile(record.md5, fence);
      this.deps.events.lost?.(record);
    });
    return false;
  }

  /**
   * The verified bytes of upload `meta` become the stored file (unless it is stored already: the
   * content is kept once) and the upload's principal gets its entry. Idempotent: after a crash at
   * any point it is run again. `attempt`: the sealed copy verified (several nodes). `sha256`: the
   * upload's own, when computed with the check; a stored file whose SHA-256 differs is another
   * content with the same MD5 (a collision), and is refused rather than handed over.
   */
  async store(meta: UploadMeta, { attempt, sha256 }: { attempt?: number; sha256?: string }, upload: Guard): Promise<{ record: FileRecord; entry: FileEntry }> {
    const { files, bytes, fsync } = this.deps;
    const { id, md5, size } = meta;
    return this.#locked(md5, async ({ fence }) => {
      upload.signal.throwIfAborted();
      const present = await bytes.storedSize(md5);
      if (present !== undefined && present !== size) throw sizeMismatch(md5, present);
      if (present === undefined) await bytes.commit(id, md5, { ...(attempt === undefined ? {} : { attempt }), durable: fsync });
      let record = await files.getFile(md5);
      if (record && sha256 !== undefined && record.sha256 !== undefined && record.sha256 !== sha256) {
        throw new UpwireError('E_CHECKSUM', 'another content with this MD5 (and another SHA-256) is stored: MD5 collision refused');
      }
      if (!record) {
        record = {
          md5, size, name: meta.name, type: meta.type, createdAt: Date.now(),
          ...(sha256 ? { sha256 } : {}), ...(meta.metadata ? { metadata: meta.metadata } : {}),
        };
        await files.putFile(record, fsync, fence);
      }
      const entry = entryOf(meta.uploader, md5, record.createdAt);
      await files.putEntry(entry, fsync, fence);
      return { record, entry };
    });
  }

  /**
   * A principal's entry for a stored file it proved it holds. Looked at again under the lock: a
   * delete since the proof was checked may have removed the content (false, nothing written).
   */
  addEntry(entry: FileEntry): Promise<boolean> {
    return this.#locked(entry.md5, async ({ fence }) => {
      if (!(await this.deps.files.getFile(entry.md5))) return false;
      await this.deps.files.putEntry(entry, this.deps.fsync, fence);
      return true;
    });
  }

  /**
   * Deletes `owner`'s entry of a stored file; the content (record and bytes) goes with the last
   * entry. `owner` undefined: the server is one store for everyone, and the file goes. Undefined
   * when the caller has no such file: for content only others stored, the same lookups as for
   * content nobody stored (the caller's own entry, no lock, no record), so neither the answer nor
   * its timing tells the two apart. `stored`: the content stays for other principals.
   */
  async remove(md5: string, owner: string | undefined): Promise<{ file: FileInfo; stored: boolean } | undefined> {
    const { files, fsync } = this.deps;
    const key = owner ?? EVERYONE;
    if (!(await (owner === undefined ? files.getFile(md5) : files.getEntry(owner, md5)))) return undefined;
    return this.#locked(md5, async ({ fence }) => {
      // Again under the lock: another delete (or a merge) may have come first.
      const [record, entry] = [await files.getFile(md5), await files.getEntry(key, md5)];
      if (entry) await files.deleteEntry(key, md5, fsync, fence);
      if (!record || (owner !== undefined && !entry)) return undefined;
      const stored = owner !== undefined && (await files.hasEntries(md5));
      if (!stored) await this.#dropContent(md5, fence);
      return { file: entry ? entryInfo(entry, fileInfo(record)) : fileInfo(record), stored };
    });
  }

  /**
   * The record and the bytes of md5 go, under its lock, so a merge or an instant upload of it finds
   * both or neither. Bytes first: a crash in between leaves a record without bytes, which intact()
   * drops. With downloads of it under way on this node, the record goes now (no new download
   * starts) and the bytes when the last is done, unless an upload stored the content again meanwhile.
   */
  async #dropContent(md5: string, fence: Fence): Promise<void> {
    const { files, bytes } = this.deps;
    if (!this.readers.reading(md5)) {
      await bytes.removeStored(md5);
      await files.deleteFile(md5, fence);
      return;
    }
    await files.deleteFile(md5, fence);
    this.#removeWhenUnread(md5);
  }

  #removeWhenUnread(md5: string): void {
    this.readers.whenUnread(md5, () => {
      this.#locked(md5, async () => {
        if (await this.deps.files.getFile(md5)) return; // stored again: the bytes are the new record's
        // A download that started since finds no record and ends at once: wait for it too.
        if (this.readers.reading(md5)) return this.#removeWhenUnread(md5);
        await this.deps.bytes.removeStored(md5);
      }).catch((err: unknown) => this.deps.events.failed?.(err, `removing the bytes of deleted file ${md5}`));
    });
  }

  /** Adds a SHA-256 to a record that has none; a record deleted meanwhile (its bytes gone) is not written again. */
  recordSha256(md5: string, sha256: string): Promise<void> {
    return this.#locked(md5, async ({ fence }) => {
      const record = await this.deps.files.getFile(md5);
      // Not synced: a record without it is complete, and a crash before the next sync loses only this.
      if (record && record.sha256 === undefined) await this.deps.files.putFile({ ...record, sha256 }, false, fence);
    });
  }

  #locked<T>(md5: string, task: (guard: Guard) => Promise<T>): Promise<T> {
    return withLock(this.deps.locker, fileLock(md5), task);
  }
}

export function sizeMismatch(md5: string, size: number): UpwireError {
  return new UpwireError('E_SIZE_MISMATCH', `${md5} is already stored with size ${size}`, { size });
}
