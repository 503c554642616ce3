import type { Readable } from 'node:stream';

/** What a byte store can do; the server sizes chunks and chooses its checks from these. */
export interface ByteStoreCapabilities {
  /** Chunk sizes the store takes (an object store's multipart parts have a floor, say). */
  minPartSize: number;
  maxPartSize: number;
  /** The most chunks one upload may have. */
  maxParts: number;
  /**
   * Bytes written can be read back before the commit (VERIFY=disk, and the prefix hash of what
   * arrived out of order or before a restart). Without it (object storage: parts cannot be read
   * before the multipart upload is completed), VERIFY must be `received`, and a merge the prefix
   * hash does not cover verifies a sealed copy (`seal`), which the store must then offer.
   */
  readBack: boolean;
  /** `flush()` makes the bytes written durable (survive a power loss). */
  durableOnFlush: boolean;
}

/**
 * The bytes of one upload in progress. Writes go to any position, in any order; `flush` makes them
 * durable when the store can. The store may close what backs it while it is idle (a file handle)
 * and open it again on the next call, so holding one of these costs nothing while no bytes flow.
 */
export interface PartialBytes {
  write(position: number, data: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  /** Exactly `length` bytes at `position` into `into`; fails on a short read. */
  read(position: number, length: number, into: Uint8Array): Promise<Uint8Array>;
  /** Bytes present now (the highest written end), or -1 when they are gone (removed behind our back). */
  size(): Promise<number>;
  /** Lets go of what backs the bytes (they stay); the next call takes it again. */
  release(): Promise<void>;
  /**
   * Chunk `index` (bytes `position` to `position + length`) is all written: the store makes it
   * final (an object store uploads it as a part) and answers a tag to record with its index (the
   * part's ETag), before the chunk is acknowledged. A store without it keeps bytes as written.
   */
  chunkDone?(index: number, position: number, length: number): Promise<string | undefined>;
  /** Bytes `0` to `end` are hashed and final: a store may let go of any local copy it kept of them. */
  settled?(end: number): void;
}

/** The recorded chunks of an upload with the tags their store answered (an object store's part ETags), by index. */
export type ChunkTags = ReadonlyMap<number, string>;

/**
 * Where upload bytes live: partial uploads by upload id (see store/types.ts UploadMeta.id), and
 * verified files under their md5 once committed. Implementations pass the contract suite in
 * test/contract/byte-store.ts.
 */
export interface ByteStore {
  readonly capabilities: ByteStoreCapabilities;
  /** Creates what the store needs, and fails with a clear message when it cannot work (a path on two file systems, say). */
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * What backs a new upload's bytes, made before its first byte (an object store's multipart
   * upload), answered as a handle the upload keeps (UploadMeta.handle) and gives back below.
   * A store without it needs none.
   */
  begin?(id: string, geometry: { size: number; chunkSize: number }): Promise<string>;
  /** The partial bytes of upload `id`, created empty on the first write. */
  partial(id: string, handle?: string): PartialBytes;
  /** Removes the partial bytes of `id` and every sealed copy of them (an object store aborts its multipart upload). */
  removePartial(id: string, handle?: string): Promise<void>;
  /**
   * For a store shared by several nodes: copies the partial bytes of `id` where writes to the
   * partial (another node may still hold a handle on it) can no longer reach them, as copy
   * `attempt` (a merge's own: its lock's fencing token), and answers that copy. `commit` with the
   * same attempt then stores that copy, so what is stored is exactly what this merge verified.
   * The copies of earlier attempts of `id` are removed: one copy per upload at most.
   */
  seal?(id: string, attempt: number, durable: boolean, recorded?: { handle?: string; tags: ChunkTags }): Promise<PartialBytes>;
  /**
   * Makes the verified bytes of upload `id` the stored file `md5`: its sealed copy `attempt` when
   * given (never the partial bytes then; it fails if that copy is gone), else its partial bytes.
   * Atomic (readers see all of the file or none), and it never replaces a stored file: 'exists'
   * when one is there already, and the source is dropped. `durable`: the move survives a power loss.
   */
  commit(id: string, md5: string, options: { attempt?: number; durable: boolean }): Promise<'stored' | 'exists'>;
  /** The size of the stored file, or undefined when there is none. */
  storedSize(md5: string): Promise<number | undefined>;
  /** Bytes `start`..`end` (inclusive) of the stored file. */
  readStored(md5: string, start: number, end: number): Readable;
  removeStored(md5: string): Promise<void>;
  /** Bytes that may still be written. */
  freeBytes(): Promise<number>;
  /** For /readyz: resolves when the store can serve (an object store's bucket answers); rejects with why not. */
  ready?(): Promise<void>;
  /** A URL a client can download the stored file from for a while (a presigned GET), named and typed as given: DOWNLOADS=redirect. */
  storedUrl?(md5: string, as: { name: string; type: string }): Promise<string>;
}
