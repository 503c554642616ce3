export { startServer, type UpwireServer } from './app.js';
export { createUpwire, upwireSocketOptions, MAX_FRAME_BYTES, type Upwire, type UpwireOptions, type UpwireSettings } from './upwire.js';
export { loadConfig, ConfigError, DEFAULTS, type ServerConfig } from './config.js';
export type { UpwireHooks, Authorize, AuthorizeRequest, Principal } from './hooks.js';
export type { HttpHandler } from './http.js';
export type { UploadStateStore, FileIndex, UploadMeta, FileRecord } from './store/types.js';
export type { ByteStore, ByteStoreCapabilities, PartialBytes } from './bytes/types.js';
export type { Locker, Lock } from './lock/types.js';
export { UpwireError } from '../protocol/index.js';
