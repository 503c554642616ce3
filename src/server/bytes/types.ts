import type { Readable } from 'node:stream';

/** What a byte store can do; the server sizes chunks and chooses its checks from these. */
export interface ByteStoreCapabilities {
  /** Chunk sizes the store takes (an object store's multipart parts have a floor, say). */
  minPartSize: number;
  maxPartSize: number;
  /** The most chunks one upload may have. */
  maxParts: number;
  /** Bytes written can be read back before the commit (for the prefix hash after a restart, and VERIFY=disk). */
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
}

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
  /** The partial bytes of upload `id`, created empty on the first write. */
  partial(id: string): PartialBytes;
  /** Removes the partial bytes of `id` and every sealed copy of them. */
  removePartial(id: string): Promise<void>;
  /**
   * For a store shared by several nodes: copies the partial bytes of `id` where writes to the
   * partial (another node may still hold a handle on it) can no longer reach them, as copy
   * `attempt` (a merge's own: its lock's fencing token), and answers that copy. `commit` with the
   * same attempt then stores that copy, so what is stored is exactly what this merge verified.
   * The copies of earlier attempts of `id` are removed: one copy per upload at most.
   */
  seal?(id: string, attempt: number, durable: boolean): Promise<PartialBytes>;
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
}
