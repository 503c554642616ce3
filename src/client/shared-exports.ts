/** What the Node and browser entries both export, beside their own createUploader and upload. */
export { Uploader, openConnection, DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS } from './core.js';
export type { Connection } from './connection.js';
export type { FileSource, Md5Hasher, Phase, UploadOptions, UploadResult, UploaderEvents } from './core.js';
export type { Progress } from './meter.js';
export { UpwireError, ERRORS, type ErrorCode, type FileInfo } from '../protocol/index.js';
export { Watcher, watch, type WatchOptions, type WatcherEvents } from './watcher.js';
export type { EndedEvent, UploadSnapshot } from '../protocol/index.js';
