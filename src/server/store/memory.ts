import { UploadGone, type FileEntry, type FileIndex, type FileRecord, type UploadMeta, type UploadStateStore } from './types.js';

/** Upload state and file records in memory, nothing durable: for tests and throwaway embedding. */
export class MemoryStores implements UploadStateStore, FileIndex {
  readonly #uploads = new Map<string, UploadMeta>();
  readonly #chunks = new Map<string, Set<number>>();
  readonly #files = new Map<string, FileRecord>();
  readonly #entries = new Map<string, Map<string, FileEntry>>();

  async getUpload(md5: string): Promise<UploadMeta | undefined> {
    const meta = this.#uploads.get(md5);
    return meta && structuredClone(meta);
  }

  async putUpload(meta: UploadMeta): Promise<void> {
    this.#uploads.set(meta.md5, structuredClone(meta));
  }

  async *listUploads(): AsyncIterable<UploadMeta> {
    for (const meta of [...this.#uploads.values()]) yield structuredClone(meta);
  }

  async receivedIndices(md5: string): Promise<number[]> {
    return [...(this.#chunks.get(md5) ?? [])];
  }

  async recordChunks(meta: UploadMeta, indices: readonly number[]): Promise<void> {
    if (!this.#uploads.has(meta.md5)) throw new UploadGone(meta.md5);
    let set = this.#chunks.get(meta.md5);
    if (!set) this.#chunks.set(meta.md5, (set = new Set()));
    for (const index of indices) set.add(index);
    this.#uploads.set(meta.md5, structuredClone(meta));
  }

  async clearChunks(md5: string): Promise<void> {
    this.#chunks.delete(md5);
  }

  async deleteUpload(md5: string): Promise<void> {
    this.#chunks.delete(md5);
    this.#uploads.delete(md5);
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

  async *listEntries(owner: string): AsyncIterable<FileEntry> {
    const owned = [...(this.#entries.get(owner)?.values() ?? [])].sort((a, b) => (a.md5 < b.md5 ? -1 : 1));
    for (const entry of owned) yield structuredClone(entry);
  }
}
