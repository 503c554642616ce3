import type { ErrorCode, FileInfo, UploadSnapshot } from '../protocol/index.js';

/** What the upload service tells observers; the watcher hub and metrics implement it. */
export interface UploadEvents {
  progress(snapshot: UploadSnapshot): void;
  complete(file: FileInfo): void;
  ended(md5: string, reason: 'aborted' | 'expired' | 'failed', code?: ErrorCode): void;
}

export const NO_EVENTS: UploadEvents = { progress() {}, complete() {}, ended() {} };
