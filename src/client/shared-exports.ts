/** What the Node and browser entries both export, beside their own createUploader and upload. */
export { Uploader, openConnection, DEFAULT_MAX_IN_FLIGHT, DEFAULT_RETRIES, DEFAULT_TARGET_DELAY_MS, DEFAULT_TIMEOUT_MS } from './core.js';
export type { Connection, TokenSource } from './connection.js';
export type { ConnectionSettings, FileSource, Md5Hasher, Phase, UploadOptions, UploadProgress, UploadResult, UploaderEvents } from './core.js';
export type { Progress } from './meter.js';
export { UpwireError, ERRORS, type ErrorCode, type FileInfo } from '../protocol/index.js';
export { Watcher, watch, type WatchOptions, type WatcherEvents } from './watcher.js';
export type { DeleteAnswer, DeletedEvent, EndedEvent, UploadSnapshot } from '../protocol/index.js';
export { deleteFile, type DeleteOptions } from './delete-file.js';
export type { HashCache } from './hash-cache.js';
