import type { ErrorCode, WireError } from './errors.js';
import type { Range } from './ranges.js';

/** Binary payloads as socket.io delivers them in Node (Buffer is a Uint8Array) and in browsers. */
export type BinaryData = Uint8Array | ArrayBuffer;

/** String values under plain keys (see MAX_METADATA_* in constants.ts). */
export type Metadata = Record<string, string>;

export interface InitRequest { md5: string; size: number; name: string; type?: string; chunkSize?: number; metadata?: Metadata }
/**
 * One frame of chunk `index`: `data` goes at byte `offset` of the chunk (0 when absent). The frames
 * of a chunk are sent in order, starting at offset 0, over one connection.
 */
export interface ChunkRequest { md5: string; index: number; total: number; offset?: number; data: BinaryData }
export interface Md5Request { md5: string }
/**
 * The answer to a ProveStatus, with the init's own fields: `digest` is the hex MD5 of the challenge
 * (UTF-8) followed by the bytes of each range, in order.
 */
export interface ProveRequest extends InitRequest { challenge: string; digest: string }
export interface WatchRequest { md5?: string }
/**
 * Sent before the hash pass (protocol 3): what the server would refuse of an upload without its md5
 * (the size above its limit, a name, type or metadata outside the protocol's) is refused here, in one
 * round trip, before the client reads the file. The token was checked at the handshake already.
 * An ok answer promises nothing: init decides, with the md5.
 */
export interface PreflightRequest { size: number; name: string; type?: string; metadata?: Metadata }

/** A stored, verified file. `url` is relative to the server's base URL. */
export interface FileInfo {
  md5: string;
  size: number;
  name: string;
  type: string;
  url: string;
  /** SHA-256 of the content, recorded at verification (MD5 collisions are public; this is not). */
  sha256?: string;
  /** The metadata of this principal's upload of it. */
  metadata?: Metadata;
}

export interface CompleteStatus { status: 'complete'; file: FileInfo }
export interface PartialStatus {
  status: 'partial';
  md5: string;
  size: number;
  chunkSize: number;
  total: number;
  /** Absent chunk indices as half-open ranges. */
  missing: Range[];
  /** First missing index, or null when every chunk is present and only the merge remains. */
  next: number | null;
}
export interface NoneStatus { status: 'none' }
/**
 * The content is stored, but under other principals: the client proves it has the file by hashing
 * the challenge and these byte ranges (half-open, ascending) of it, and sends `prove`.
 */
export interface ProveStatus { status: 'prove'; md5: string; size: number; challenge: string; ranges: Range[] }

/**
 * The answer to one frame. `accepted`: its bytes were written. `stored`: chunk `index` is stored
 * (its index recorded, durable with FSYNC on), which the frame completing a chunk reports once the
 * record is written. A frame not accepted (the chunk is stored already, or another connection
 * started it over) changes nothing and is not an error.
 */
export interface ChunkAck {
  index: number;
  offset: number;
  accepted: boolean;
  stored: boolean;
  /** The lowest chunk index still missing, or null when all are stored. */
  next: number | null;
  /** Chunks stored, of `total`. */
  received: number;
  total: number;
}

/** What observers see of one upload in flight. */
export interface UploadSnapshot {
  /**
   * The upload's id: its md5 in a server that is one shared store; where files belong to
   * principals, each principal's upload of the same content has an id of its own.
   */
  id: string;
  md5: string;
  name: string;
  size: number;
  /** Chunks in all, and chunks stored. */
  total: number;
  received: number;
  /** Bytes received: those of stored chunks plus those written of chunks in progress. */
  bytes: number;
  /** Bytes per second received over the last few seconds. */
  rate: number;
  /** Ids of the connections that sent chunks in the last few seconds. */
  clients: string[];
}
export type ProgressEvent = UploadSnapshot;

/** An upload that ended without a stored file (`id` as in UploadSnapshot). */
export interface EndedEvent { id: string; md5: string; reason: 'aborted' | 'expired' | 'failed'; code?: ErrorCode }

/**
 * The answer to `delete`: the caller's entry (or, in a server that is one store for everyone, the
 * file) is gone. It does not say whether the content stayed for other principals: that would tell
 * the caller that someone else stored it.
 */
export interface DeleteAnswer { md5: string }
/** A stored file's entry was deleted (watchers see every principal's files); `stored`: the content is still kept for others. */
export interface DeletedEvent { md5: string; stored: boolean }

export type Result<T> = ({ ok: true } & T) | { ok: false; error: WireError };
export type Ack<T> = (result: Result<T>) => void;

export interface ClientToServerEvents {
  init: (request: InitRequest, ack: Ack<CompleteStatus | PartialStatus | ProveStatus>) => void;
  prove: (request: ProveRequest, ack: Ack<CompleteStatus>) => void;
  chunk: (request: ChunkRequest, ack: Ack<ChunkAck>) => void;
  merge: (request: Md5Request, ack: Ack<CompleteStatus>) => void;
  status: (request: Md5Request, ack: Ack<CompleteStatus | PartialStatus | NoneStatus>) => void;
  abort: (request: Md5Request, ack: Ack<object>) => void;
  watch: (request: WatchRequest, ack: Ack<{ uploads: UploadSnapshot[] }>) => void;
  unwatch: (request: WatchRequest, ack: Ack<object>) => void;
  delete: (request: Md5Request, ack: Ack<DeleteAnswer>) => void;
  preflight: (request: PreflightRequest, ack: Ack<object>) => void;
}

export interface ServerToClientEvents {
  progress: (event: ProgressEvent) => void;
  complete: (event: { file: FileInfo }) => void;
  ended: (event: EndedEvent) => void;
  deleted: (event: DeletedEvent) => void;
}

export type RequestName = keyof ClientToServerEvents;
/** The ok answer of a request, without the `ok` flag. */
export type Answer<E extends RequestName> =
  Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> ? T : never;
export type RequestOf<E extends RequestName> = Parameters<ClientToServerEvents[E]>[0];
