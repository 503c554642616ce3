export { startServer, MAX_FRAME_BYTES, type UpwireServer } from './app.js';
export { loadConfig, ConfigError, DEFAULTS, type ServerConfig } from './config.js';
export type { UploadStateStore, FileIndex, UploadMeta, FileRecord } from './store/types.js';
