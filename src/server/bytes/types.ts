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
 * Where upload bytes live: partial uploads by md5, and verified files under their md5 once
 * committed. Implementations pass the contract suite in test/contract/byte-store.ts.
 */
export interface ByteStore {
  readonly capabilities: ByteStoreCapabilities;
  /** Creates what the store needs, and fails with a clear message when it cannot work (a path on two file systems, say). */
  open(): Promise<void>;
  close(): Promise<void>;
  /** The partial bytes of `md5`, created empty on the first write. */
  partial(md5: string): PartialBytes;
  removePartial(md5: string): Promise<void>;
  /**
   * For a store shared by several nodes: copies the partial bytes of `md5` where writes to the
   * partial (another node may still hold a handle on it) can no longer reach them, and answers
   * that copy; `commit` then moves the copy, so what is stored is exactly what was verified.
   */
  seal?(md5: string, durable: boolean): Promise<PartialBytes>;
  /** Moves the partial bytes of `md5` (or their sealed copy) to the store, atomically: readers see all of them or none. `durable`: the move survives a power loss. */
  commit(md5: string, durable: boolean): Promise<void>;
  /** The size of the stored file, or undefined when there is none. */
  storedSize(md5: string): Promise<number | undefined>;
  /** Bytes `start`..`end` (inclusive) of the stored file. */
  readStored(md5: string, start: number, end: number): Readable;
  removeStored(md5: string): Promise<void>;
  /** Bytes that may still be written. */
  freeBytes(): Promise<number>;
}
