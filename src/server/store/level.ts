import { Level } from 'level';
import { UpwireError } from '../../protocol/index.js';
import { randomBytes } from 'node:crypto';
import { currentMeta, UploadGone, type FileEntry, type FileIndex, type FileRecord, type UploadMeta, type UploadProgress, type UploadStateStore } from './types.js';

/**
 * The embedded default: one LevelDB under DB_DIR holding partial uploads (by id), their received
 * chunk indices (one key per index, so recording a chunk is one small write) and the file index.
 * One process owns it, so its locks cannot be lost and fences are not needed (they are ignored).
 */
export class LevelStores implements UploadStateStore, FileIndex {
  readonly #db: Level<string, string>;
  readonly #uploads;
  readonly #chunks;
  readonly #files;
  readonly #entries;
  readonly #owners;
  readonly #marks;
  readonly #secrets;
  /** One read (or creation) per name, so two callers at once get the same key. */
  readonly #secretsRead = new Map<string, Promise<Uint8Array>>();

  constructor(location: string) {
    this.#db = new Level<string, string>(location);
    this.#uploads = this.#db.sublevel<string, UploadMeta>('uploads', { valueEncoding: 'json' });
    this.#chunks = this.#db.sublevel<string, string>('chunks', { valueEncoding: 'utf8' });
    this.#files = this.#db.sublevel<string, FileRecord>('files', { valueEncoding: 'json' });
    // Keyed `<owner>\n<md5>`: an owner's entries are one range (an id has no newline: access.ts).
    this.#entries = this.#db.sublevel<string, FileEntry>('entries', { valueEncoding: 'json' });
    // The same entries keyed `<md5>\n<owner>` (value ''): whether anyone still has an entry for some content.
    this.#owners = this.#db.sublevel<string, string>('owners', { valueEncoding: 'utf8' });
    // Migrations done, by name (an index built from records written before it existed).
    this.#marks = this.#db.sublevel<string, string>('marks', { valueEncoding: 'utf8' });
    this.#secrets = this.#db.sublevel<string, string>('secrets', { valueEncoding: 'utf8' });
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
    await this.#indexOwners();
  }

  /**
   * Entries written before the index by md5 existed get their key in it, once (the mark is written
   * last: a crash half-way runs it again, and each put is idempotent). One pass over the entries.
   */
  async #indexOwners(): Promise<void> {
    if ((await this.#marks.get('owners')) !== undefined) return;
    let batch = this.#db.batch();
    for await (const entry of this.#entries.values()) {
      batch.put(`${entry.md5}\n${entry.owner}`, '', { sublevel: this.#owners });
      if (batch.length >= 1000) {
        await batch.write();
        batch = this.#db.batch();
      }
    }
    await batch.put('owners', '1', { sublevel: this.#marks }).write({ sync: true });
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  async getUpload(id: string): Promise<UploadMeta | undefined> {
    const raw = await this.#uploads.get(id);
    return raw && currentMeta(raw, id);
  }

  putUpload(meta: UploadMeta): Promise<void> {
    return this.#uploads.put(meta.id, meta);
  }

  async *listUploads(): AsyncIterable<UploadMeta> {
    for await (const [id, raw] of this.#uploads.iterator()) yield currentMeta(raw, id);
  }

  async receivedIndices(id: string): Promise<number[]> {
    const keys = await this.#chunks.keys(chunkRange(id)).all();
    return keys.map((key) => Number(key.slice(id.length + 1)));
  }

  /** A chunk's tag is the value of its key ('' when it has none). */
  async chunkTags(id: string): Promise<Map<number, string>> {
    const tags = new Map<number, string>();
    for await (const [key, tag] of this.#chunks.iterator(chunkRange(id))) if (tag !== '') tags.set(Number(key.slice(id.length + 1)), tag);
    return tags;
  }

  async recordChunks(id: string, indices: readonly number[], progress: UploadProgress, sync: boolean, tags?: readonly (string | undefined)[]): Promise<void> {
    // One process owns this database, and a session's writes end before its upload is forgotten
    // or merged: the check and the batch cannot be separated by another write of the record.
    const raw = await this.#uploads.get(id);
    if (raw === undefined || raw.verified || raw.completed) throw new UploadGone(id);
    const batch = this.#db.batch();
    indices.forEach((index, i) => batch.put(`${id}:${index}`, tags?.[i] ?? '', { sublevel: this.#chunks }));
    batch.put(id, { ...raw, ...progress }, { sublevel: this.#uploads });
    return batch.write({ sync });
  }

  clearChunks(id: string): Promise<void> {
    return this.#chunks.clear(chunkRange(id));
  }

  async deleteUpload(id: string): Promise<void> {
    await this.clearChunks(id);
    await this.#uploads.del(id);
  }

  /** Made at the first call and kept in the database (synced), so it survives restarts. */
  secret(name: string): Promise<Uint8Array> {
    let secret = this.#secretsRead.get(name);
    if (!secret) this.#secretsRead.set(name, (secret = this.#readOrMakeSecret(name)));
    return secret;
  }

  async #readOrMakeSecret(name: string): Promise<Uint8Array> {
    const kept = await this.#secrets.get(name);
    if (kept !== undefined) return Buffer.from(kept, 'hex');
    const made = randomBytes(32);
    await this.#db.batch().put(name, made.toString('hex'), { sublevel: this.#secrets }).write({ sync: true });
    return made;
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
    return this.#db.batch()
      .put(`${entry.owner}\n${entry.md5}`, entry, { sublevel: this.#entries })
      .put(`${entry.md5}\n${entry.owner}`, '', { sublevel: this.#owners })
      .write({ sync });
  }

  deleteEntry(owner: string, md5: string, sync: boolean): Promise<void> {
    return this.#db.batch()
      .del(`${owner}\n${md5}`, { sublevel: this.#entries })
      .del(`${md5}\n${owner}`, { sublevel: this.#owners })
      .write({ sync });
  }

  async hasEntries(md5: string): Promise<boolean> {
    // An md5 is 32 hex digits: this range is exactly its keys.
    const first = await this.#owners.keys({ gt: `${md5}\n`, lt: `${md5}\v`, limit: 1 }).all();
    return first.length > 0;
  }

  getEntry(owner: string, md5: string): Promise<FileEntry | undefined> {
    return this.#entries.get(`${owner}\n${md5}`);
  }

  async *listEntries(owner: string): AsyncIterable<FileEntry> {
    // '\n' sorts just before '\v': this range is exactly the owner's keys.
    yield* this.#entries.values({ gt: `${owner}\n`, lt: `${owner}\v` });
  }
}

/**
 * Keys `<id>:<index>`; ':' sorts just before ';', so this range is exactly one upload's indices
 * (an id is hex digits and '-', never ':' or ';', so no id's range holds another's keys).
 */
function chunkRange(id: string) {
  return { gt: `${id}:`, lt: `${id};` };
}
