import type { DeletedEvent, EndedEvent, FileInfo, UploadSnapshot } from '../../protocol/index.js';
import type { FileRecord } from '../store/types.js';

/**
 * What the upload service tells observers: the watcher hub, metrics and the log implement it.
 * Property syntax, not method syntax: the checker then holds an implementation's parameters to
 * these exactly (a method of the same name taking something else is an error, not a silent match).
 */
export interface UploadEvents {
  /** An init was answered: a new upload, one resumed, or a file already stored. */
  initialized: (outcome: 'new' | 'resumed' | 'instant', md5: string) => void;
  /** A frame's bytes reached the temp file, taking `seconds`. */
  written: (bytes: number, seconds: number) => void;
  /** A chunk's bytes are all written and its index recorded. */
  chunkRecorded: () => void;
  /** Bytes were received for an upload. */
  progress: (snapshot: UploadSnapshot) => void;
  /** The content was hashed and compared with the md5 at merge. */
  verified: (seconds: number, ok: boolean) => void;
  /** Upload `id` is stored as `file`. */
  complete: (file: FileInfo, id: string) => void;
  ended: (event: EndedEvent) => void;
  /** A principal's entry of a stored file was deleted (`stored`: the content stays for others). */
  deleted?: (event: DeletedEvent) => void;
  /** A stored file's bytes were found gone (or of another size): its record was dropped. */
  lost?: (record: FileRecord) => void;
  /** Work the server does on its own (recovery at start with several nodes, a SHA-256 pass) failed. */
  failed?: (err: unknown, what: string) => void;
}

/** One UploadEvents that tells each listener the events it cares for. */
export function fanOut(...listeners: Partial<UploadEvents>[]): UploadEvents {
  return {
    initialized: (outcome, md5) => listeners.forEach((l) => l.initialized?.(outcome, md5)),
    written: (bytes, seconds) => listeners.forEach((l) => l.written?.(bytes, seconds)),
    chunkRecorded: () => listeners.forEach((l) => l.chunkRecorded?.()),
    progress: (snapshot) => listeners.forEach((l) => l.progress?.(snapshot)),
    verified: (seconds, ok) => listeners.forEach((l) => l.verified?.(seconds, ok)),
    complete: (file, id) => listeners.forEach((l) => l.complete?.(file, id)),
    ended: (event) => listeners.forEach((l) => l.ended?.(event)),
    deleted: (event) => listeners.forEach((l) => l.deleted?.(event)),
    lost: (record) => listeners.forEach((l) => l.lost?.(record)),
    failed: (err, what) => listeners.forEach((l) => l.failed?.(err, what)),
  };
}

