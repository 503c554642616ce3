/** socket.io namespace that carries the whole upload protocol (by default: a server may mount it elsewhere). */
export const UPLOAD_NAMESPACE = '/upload';

/**
 * The protocol version a client states in its handshake (`auth.protocol`). 2: chunks travel as
 * frames with an offset. 3: and a `preflight` request before the hash pass. A server refuses a
 * version outside [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] with E_PROTOCOL rather than misread it.
 */
export const PROTOCOL_VERSION = 3;
/** The oldest version a server still speaks: a client of protocol 2 sends no preflight, and needs none. */
export const MIN_PROTOCOL_VERSION = 2;
/** The first version with the `preflight` request. */
export const PREFLIGHT_PROTOCOL_VERSION = 3;

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Chunk size bounds: the server clamps a client's wish into them. */
export const MIN_CHUNK_SIZE = 64 * KiB;
export const DEFAULT_CHUNK_SIZE = 4 * MiB;
export const MAX_CHUNK_SIZE = 16 * MiB;
/** Very large files get larger chunks so the index of one upload stays small. */
export const MAX_CHUNKS = 1_048_576;

/*
 * A chunk is the unit of resume: its index is recorded once all of its bytes are stored. A frame
 * is the unit of transport: a chunk travels as one or more frames (`offset` within the chunk), so
 * that on a slow link no message waits behind megabytes of data. The sender sizes its frames to
 * the measured link, between these bounds; the server refuses (closes) a larger frame.
 */
export const MIN_FRAME_SIZE = 16 * KiB;
export const MAX_FRAME_SIZE = 1 * MiB;

/** The largest name accepted, in UTF-8 bytes (a common file-system limit). */
export const MAX_NAME_BYTES = 255;
export const MAX_TYPE_LENGTH = 255;

/**
 * Metadata an init may carry (as tus's Upload-Metadata): string values under plain keys, kept with
 * the upload and the file, bounded so a record stays small.
 */
export const MAX_METADATA_KEYS = 16;
export const MAX_METADATA_KEY_LENGTH = 64;
export const MAX_METADATA_VALUE_BYTES = 1024;
export const MAX_METADATA_BYTES = 4096;

/**
 * Proof of possession: before a principal is handed a file that others stored, it sends the MD5 of
 * a server-chosen challenge followed by these many byte ranges of its own copy, each this long
 * (1 MiB read in all, whatever the file's size; a file of 1 MiB or less is asked for whole).
 * Many small ranges rather than a few large ones: the chance that a partial copy covers all of
 * them falls with their number (see server/possession.ts).
 */
export const PROOF_RANGES = 256;
export const PROOF_RANGE_BYTES = 4 * KiB;

/** MD5 of zero bytes: a zero-byte upload has no chunks and merges to this. */
export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Exact byte length of chunk `index`: every chunk but the last is full, the last is the remainder. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, size - index * chunkSize);
}
