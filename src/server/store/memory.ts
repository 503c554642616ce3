import { randomBytes } from 'node:crypto';
import { UploadGone, type FileEntry, type FileIndex, type FileRecord, type UploadMeta, type UploadProgress, type UploadStateStore } from './types.js';

/** Upload state and file records in memory, nothing durable: for tests and throwaway embedding. Fences are ignored (one process). */
export class MemoryStores implements UploadStateStore, FileIndex {
  readonly #uploads = new Map<string, UploadMeta>();
  /** Per upload, its recorded indices with their tags ('' for none). */
  readonly #chunks = new Map<string, Map<number, string>>();
  readonly #files = new Map<string, FileRecord>();
  readonly #entries = new Map<string, Map<string, FileEntry>>();

  readonly #secrets = new Map<string, Uint8Array>();

  async getUpload(id: string): Promise<UploadMeta | undefined> {
    const meta = this.#uploads.get(id);
    return meta && structuredClone(meta);
  }

  async putUpload(meta: UploadMeta): Promise<void> {
    this.#uploads.set(meta.id, structuredClone(meta));
  }

  async *listUploads(): AsyncIterable<UploadMeta> {
    for (const meta of [...this.#uploads.values()]) yield structuredClone(meta);
  }

  async receivedIndices(id: string): Promise<number[]> {
    return [...(this.#chunks.get(id)?.keys() ?? [])];
  }

  async chunkTags(id: string): Promise<Map<number, string>> {
    return new Map([...(this.#chunks.get(id) ?? [])].filter(([, tag]) => tag !== ''));
  }

  async recordChunks(id: string, indices: readonly number[], progress: UploadProgress, _sync: boolean, tags?: readonly (string | undefined)[]): Promise<void> {
    const meta = this.#uploads.get(id);
    if (!meta || meta.verified || meta.completed) throw new UploadGone(id);
    let recorded = this.#chunks.get(id);
    if (!recorded) this.#chunks.set(id, (recorded = new Map()));
    indices.forEach((index, i) => recorded.set(index, tags?.[i] ?? ''));
    Object.assign(meta, progress);
  }

  async clearChunks(id: string): Promise<void> {
    this.#chunks.delete(id);
  }

  async deleteUpload(id: string): Promise<void> {
    this.#chunks.delete(id);
    this.#uploads.delete(id);
  }

  async secret(name: string): Promise<Uint8Array> {
    let secret = this.#secrets.get(name);
    if (!secret) this.#secrets.set(name, (secret = randomBytes(32)));
    return secret;
  }

  async getFile(md5: string): Promise<FileRecord | undefined> {
    const record = this.#files.get(md5);
    return record && structuredClone(record);
  }

  async putFile(record: FileRecord): Promise<void> {
    this.#files.set(record.md5, structuredClone(record));
  }

  async deleteFile(md5: string): Promise<void> {
    this.#files.delete(md5);
  }

  async *listFiles(): AsyncIterable<FileRecord> {
    for (const record of [...this.#files.values()]) yield structuredClone(record);
  }

  async putEntry(entry: FileEntry): Promise<void> {
    let owned = this.#entries.get(entry.owner);
    if (!owned) this.#entries.set(entry.owner, (owned = new Map()));
    owned.set(entry.md5, structuredClone(entry));
  }

  async getEntry(owner: string, md5: string): Promise<FileEntry | undefined> {
    const entry = this.#entries.get(owner)?.get(md5);
    return entry && structuredClone(entry);
  }

  async deleteEntry(owner: string, md5: string): Promise<void> {
    this.#entries.get(owner)?.delete(md5);
  }

  async hasEntries(md5: string): Promise<boolean> {
    return [...this.#entries.values()].some((owned) => owned.has(md5));
  }

  async *listEntries(owner: string): AsyncIterable<FileEntry> {
    const owned = [...(this.#entries.get(owner)?.values() ?? [])].sort((a, b) => (a.md5 < b.md5 ? -1 : 1));
    for (const entry of owned) yield structuredClone(entry);
  }
}
