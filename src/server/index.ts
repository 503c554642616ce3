export { startServer, type UpwireServer } from './app.js';
export { createUpwire, upwireSocketOptions, MAX_FRAME_BYTES, type Upwire, type UpwireEventMap, type UpwireOptions, type UpwireSettings } from './upwire.js';
export { loadConfig, ConfigError, DEFAULTS, type ServerConfig } from './config/config.js';
export type { UpwireHooks, Authorize, AuthorizeRequest, Principal, UploadCreateEvent, UploadCompleteEvent, FileDeletedEvent } from './model/hooks.js';
export type { Role } from './access/auth.js';
export type { HttpHandler } from './http/handler.js';
export type { UploadStateStore, FileIndex, UploadMeta, UploadProgress, FileRecord, FileEntry, Uploader } from './store/types.js';
// What a store implementation throws (see the contract suites in test/contract/).
export { UploadGone, StaleFence } from './store/types.js';
// What a store throws when it cannot be reached now: the client gets a retryable E_BUSY.
export { StoreUnavailable } from './model/errors.js';
export { MemoryStores } from './store/memory.js';
export type { ByteStore, ByteStoreCapabilities, ChunkTags, PartialBytes } from './bytes/types.js';
export type { Locker, Lock, Fence } from './lock/types.js';
export { UpwireError } from '../protocol/index.js';
