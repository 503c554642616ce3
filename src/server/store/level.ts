import { Level } from 'level';
import { UpwireError } from '../../protocol/index.js';
import { UploadGone, type FileEntry, type FileIndex, type FileRecord, type UploadMeta, type UploadStateStore } from './types.js';

/**
 * The embedded default: one LevelDB under DB_DIR holding partial uploads, their received chunk
 * indices (one key per index, so recording a chunk is one small write) and the file index.
 */
export class LevelStores implements UploadStateStore, FileIndex {
  readonly #db: Level<string, string>;
  readonly #uploads;
  readonly #chunks;
  readonly #files;
  readonly #entries;

  constructor(location: string) {
    this.#db = new Level<string, string>(location);
    this.#uploads = this.#db.sublevel<string, UploadMeta>('uploads', { valueEncoding: 'json' });
    this.#chunks = this.#db.sublevel<string, string>('chunks', { valueEncoding: 'utf8' });
    this.#files = this.#db.sublevel<string, FileRecord>('files', { valueEncoding: 'json' });
    // Keyed `<owner>\n<md5>`: an owner's entries are one range (an id has no newline: access.ts).
    this.#entries = this.#db.sublevel<string, FileEntry>('entries', { valueEncoding: 'json' });
  }

  /** Opens the database; a second server on the same DB_DIR fails here, touching nothing. */
  async open(): Promise<void> {
    try {
      await this.#db.open();
    } catch (err) {
      const locked = (err as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED';
      throw new UpwireError(
        'E_INTERNAL',
        locked
          ? `the database at ${this.#db.location} is in use by another upwire server`
          : `cannot open the database at ${this.#db.location}: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  getUpload(md5: string): Promise<UploadMeta | undefined> {
    return this.#uploads.get(md5);
  }

  putUpload(meta: UploadMeta): Promise<void> {
    return this.#uploads.put(meta.md5, meta);
  }

  async *listUploads(): AsyncIterable<UploadMeta> {
    yield* this.#uploads.values();
  }

  async receivedIndices(md5: string): Promise<number[]> {
    const keys = await this.#chunks.keys(chunkRange(md5)).all();
    return keys.map((key) => Number(key.slice(md5.length + 1)));
  }

  async recordChunks(meta: UploadMeta, indices: readonly number[], sync: boolean): Promise<void> {
    // One process owns this database, and a session's writes end before its upload is forgotten:
    // the check and the batch cannot be separated by a delete.
    if ((await this.#uploads.get(meta.md5)) === undefined) throw new UploadGone(meta.md5);
    const batch = this.#db.batch();
    for (const index of indices) batch.put(`${meta.md5}:${index}`, '', { sublevel: this.#chunks });
    batch.put(meta.md5, meta, { sublevel: this.#uploads });
    return batch.write({ sync });
  }

  clearChunks(md5: string): Promise<void> {
    return this.#chunks.clear(chunkRange(md5));
  }

  async deleteUpload(md5: string): Promise<void> {
    await this.clearChunks(md5);
    await this.#uploads.del(md5);
  }

  getFile(md5: string): Promise<FileRecord | undefined> {
    return this.#files.get(md5);
  }

  putFile(record: FileRecord, sync: boolean): Promise<void> {
    // The chained batch is the write whose options carry classic-level's `sync` in the typings.
    return this.#db.batch().put(record.md5, record, { sublevel: this.#files }).write({ sync });
  }

  deleteFile(md5: string): Promise<void> {
    return this.#files.del(md5);
  }

  async *listFiles(): AsyncIterable<FileRecord> {
    yield* this.#files.values();
  }

  putEntry(entry: FileEntry, sync: boolean): Promise<void> {
    return this.#db.batch().put(`${entry.owner}\n${entry.md5}`, entry, { sublevel: this.#entries }).write({ sync });
  }

  getEntry(owner: string, md5: string): Promise<FileEntry | undefined> {
    return this.#entries.get(`${owner}\n${md5}`);
  }

  async *listEntries(owner: string): AsyncIterable<FileEntry> {
    // '\n' sorts just before '\v': this range is exactly the owner's keys.
    yield* this.#entries.values({ gt: `${owner}\n`, lt: `${owner}\v` });
  }
}

/** Keys `<md5>:<index>`; ':' sorts just before ';', so this range is exactly one upload's indices. */
function chunkRange(md5: string) {
  return { gt: `${md5}:`, lt: `${md5};` };
}
