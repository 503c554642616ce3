import type { Metadata } from '../../protocol/index.js';
import { StoreUnavailable } from '../model/errors.js';
import { EVERYONE, type Principal } from '../model/principal.js';
import type { Fence } from '../lock/types.js';

export type { Fence } from '../lock/types.js';

/** A principal taking part in an upload, with the name, type and metadata it gave. */
export interface Uploader {
  principal: Principal;
  name: string;
  type: string;
  metadata?: Metadata;
}

/**
 * A partial upload as recorded: the chunk geometry is fixed at creation. It belongs to one
 * principal (its `uploader`), and is kept under its `id`: the md5 in a server that is one store
 * for everyone, `<md5>-<tag of the principal>` where files belong to principals (see upload-id.ts), so no
 * principal can reach another's upload in progress by naming the same content.
 */
export interface UploadMeta {
  id: string;
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
  /** The principal it belongs to, with the name, type and metadata it gave. */
  uploader: Uploader;
  /** What the byte store made to back its bytes (ByteStore.begin: an object store's multipart upload id). */
  handle?: string;
  /**
   * The content hashed to the md5 and is about to be committed: set (durably) before the commit,
   * so that after a crash only an upload whose own bytes were verified is finished into a stored
   * file. `attempt`: the sealed copy that was verified (several nodes; see ByteStore.seal).
   */
  verified?: { at: number; attempt?: number };
  /**
   * The bytes are committed and the file recorded; what remains is telling onUploadComplete and
   * forgetting this record. Set before the hook runs, so a crash repeats it.
   */
  completed?: boolean;
}

/**
 * A record as an earlier version wrote it, made current: keyed by md5 (no `id`), and with a list
 * of `uploaders` (principals could join another's upload then; now an upload is one principal's,
 * and only the one who created it is kept) or none (before principals, EVERYONE).
 */
export function currentMeta(raw: UploadMeta & { uploaders?: Uploader[] }, id: string): UploadMeta {
  const { uploaders, ...meta } = raw;
  const uploader = raw.uploader ?? uploaders?.[0] ?? { principal: { id: EVERYONE, role: 'upload' }, name: raw.name, type: raw.type, ...(raw.metadata ? { metadata: raw.metadata } : {}) };
  return { ...meta, id: raw.id ?? id, uploader };
}

/** What recording chunks changes of an upload's record: when the last chunk came, and the bytes stored. */
export interface UploadProgress { updatedAt: number; received: number }

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
 * recordChunks of an upload the store no longer holds, or that is verified (its merge under way):
 * a store shared by several nodes, where another node merged or forgot it since this one loaded
 * it. Its bytes are not wanted.
 */
export class UploadGone extends Error {
  override name = 'UploadGone';
  constructor(readonly id: string) {
    super(`the upload ${id} is no longer receiving chunks`);
  }
}

/**
 * A write made under a lock (its Fence, see lock/types.ts) that was granted to another holder
 * since: a store shared by several nodes refuses it, so a node that lost its lease while it stalled
 * cannot overwrite what the next holder did. Nothing was written. Stores of one process ignore
 * fences (a lock there cannot be lost).
 */
export class StaleFence extends StoreUnavailable {
  override name = 'StaleFence';
  constructor(readonly fence: Fence) {
    super(`the lock on ${fence.key} was granted again since token ${fence.token}: this write is refused`);
  }
}

/**
 * Where partial uploads and their received chunk indices are kept.
 * Implementations must make `recordChunks` atomic: after a crash, an index is either recorded or not.
 */
export interface UploadStateStore {
  getUpload(id: string): Promise<UploadMeta | undefined>;
  /** Writes the whole record (creation, and the verified and completed steps of a merge). */
  putUpload(meta: UploadMeta, fence?: Fence): Promise<void>;
  listUploads(): AsyncIterable<UploadMeta>;
  receivedIndices(id: string): Promise<number[]>;
  /** The tags recorded with the chunks (see ByteStore's chunkDone), by index; chunks recorded without one are absent. */
  chunkTags(id: string): Promise<Map<number, string>>;
  /**
   * Records indices (each with its tag, `tags[i]` for `indices[i]`, when the byte store answered
   * one) and the upload's progress together, changing no other field of its record. `sync`:
   * durable before resolving. Rejects with UploadGone, recording nothing, when the upload is not
   * recorded or no longer receiving (verified or completed: in a store shared by nodes, another
   * node merged or forgot it).
   */
  recordChunks(id: string, indices: readonly number[], progress: UploadProgress, sync: boolean, tags?: readonly (string | undefined)[]): Promise<void>;
  /** Forgets every recorded index (the bytes behind them are no longer trusted). */
  clearChunks(id: string, fence?: Fence): Promise<void>;
  /** Forgets the upload: indices first, so a crash in between never leaves indices without meta. */
  deleteUpload(id: string, fence?: Fence): Promise<void>;
  /**
   * A random key of 32 bytes made once under `name` and kept: the same for every node that shares
   * the store, and after a restart (proofs of possession are derived from it). Optional: without
   * it, each process makes its own.
   */
  secret?(name: string): Promise<Uint8Array>;
}

/** The index of verified files. */
export interface FileIndex {
  getFile(md5: string): Promise<FileRecord | undefined>;
  putFile(record: FileRecord, sync: boolean, fence?: Fence): Promise<void>;
  /** Forgets a record (its bytes are gone). */
  deleteFile(md5: string, fence?: Fence): Promise<void>;
  listFiles(): AsyncIterable<FileRecord>;
  /** Records a principal's entry for a stored file (replacing its earlier one). */
  putEntry(entry: FileEntry, sync: boolean, fence?: Fence): Promise<void>;
  getEntry(owner: string, md5: string): Promise<FileEntry | undefined>;
  /** The principal's entries, by md5. */
  listEntries(owner: string): AsyncIterable<FileEntry>;
  /** Forgets a principal's entry (none there: nothing happens). */
  deleteEntry(owner: string, md5: string, sync: boolean, fence?: Fence): Promise<void>;
  /**
   * Whether any principal has an entry for `md5`: a delete lets the content go when none is left.
   * Implementations keep an index by md5 beside the one by owner, written with each entry, and
   * build it at open() for entries written before it existed.
   */
  hasEntries(md5: string): Promise<boolean>;
}
