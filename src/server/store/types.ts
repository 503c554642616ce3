import type { Metadata } from '../../protocol/index.js';
import type { Principal } from '../access.js';

/** A principal taking part in an upload, with the name, type and metadata it gave. */
export interface Uploader {
  principal: Principal;
  name: string;
  type: string;
  metadata?: Metadata;
}

/** A partial upload as recorded: the chunk geometry is fixed at creation. */
export interface UploadMeta {
  md5: string;
  size: number;
  chunkSize: number;
  total: number;
  name: string;
  type: string;
  createdAt: number;
  /** When a chunk was last recorded (createdAt until the first). */
  updatedAt: number;
  /** Bytes of the chunks recorded (absent in records written before it existed). */
  received?: number;
  /** The address of the client that created it, for the per-address cap. */
  createdBy?: string;
  metadata?: Metadata;
  /** Who created it, then who joined it (an init of the same content by another principal), at most MAX_UPLOADERS. */
  uploaders?: Uploader[];
  /**
   * The bytes are committed and the file recorded; what remains is telling onUploadComplete, once
   * per uploader, and forgetting this record. Set before the hook runs, so a crash repeats it.
   */
  completed?: boolean;
}

/** A verified file in the store. */
export interface FileRecord {
  md5: string;
  size: number;
  name: string;
  type: string;
  createdAt: number;
  /** SHA-256 of the content, computed in the same pass as the MD5 check. */
  sha256?: string;
  metadata?: Metadata;
}

/** One principal's upload of a stored file: its own name, type and metadata (the content is stored once per md5). */
export interface FileEntry {
  owner: string;
  md5: string;
  name: string;
  type: string;
  metadata?: Metadata;
  createdAt: number;
}

/**
 * recordChunks of an upload the store no longer holds: a store shared by several nodes, where
 * another node merged or forgot it since this one loaded it. Its bytes are not wanted.
 */
export class UploadGone extends Error {
  override name = 'UploadGone';
  constructor(readonly md5: string) {
    super(`the upload ${md5} is no longer recorded`);
  }
}

/**
 * Where partial uploads and their received chunk indices are kept.
 * Implementations must make `recordChunks` atomic: after a crash, an index is either recorded or not.
 */
export interface UploadStateStore {
  getUpload(md5: string): Promise<UploadMeta | undefined>;
  putUpload(meta: UploadMeta): Promise<void>;
  listUploads(): AsyncIterable<UploadMeta>;
  receivedIndices(md5: string): Promise<number[]>;
  /**
   * Records indices and the upload's new updatedAt together. `sync`: durable before resolving.
   * Rejects with UploadGone, recording nothing, when the upload is no longer recorded (in a store
   * shared by nodes: another node merged or forgot it).
   */
  recordChunks(meta: UploadMeta, indices: readonly number[], sync: boolean): Promise<void>;
  /** Forgets every recorded index (the bytes behind them are no longer trusted). */
  clearChunks(md5: string): Promise<void>;
  /** Forgets the upload: indices first, so a crash in between never leaves indices without meta. */
  deleteUpload(md5: string): Promise<void>;
}

/** The index of verified files. */
export interface FileIndex {
  getFile(md5: string): Promise<FileRecord | undefined>;
  putFile(record: FileRecord, sync: boolean): Promise<void>;
  /** Forgets a record (its bytes are gone). */
  deleteFile(md5: string): Promise<void>;
  listFiles(): AsyncIterable<FileRecord>;
  /** Records a principal's entry for a stored file (replacing its earlier one). */
  putEntry(entry: FileEntry, sync: boolean): Promise<void>;
  getEntry(owner: string, md5: string): Promise<FileEntry | undefined>;
  /** The principal's entries, by md5. */
  listEntries(owner: string): AsyncIterable<FileEntry>;
}
