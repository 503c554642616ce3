import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../../protocol/index.js';
import { ConfigError } from '../model/errors.js';

export interface ServerConfig {
  port: number;
  host: string;
  uploadDir: string;
  dbDir: string;
  /** Default chunk size offered to clients that state no wish. */
  chunkSize: number;
  maxFileSize: number;
  /** Unset: open server. Set: socket.io auth and HTTP file endpoints require it. */
  uploadToken: string | undefined;
  /** A partial upload untouched this long (ms) is forgotten and its temp data deleted. */
  partialTtlMs: number;
  /** A partial upload that received no byte this long after its init (ms) is forgotten. */
  emptyTtlMs: number;
  /** Partial uploads kept at once, in all and per client address. */
  maxUploads: number;
  maxUploadsPerAddress: number;
  /** fdatasync chunk bytes (batched) before their index is recorded: acknowledged chunks survive a power loss. */
  fsync: boolean;
  /** A read-only token: its holders may watch uploads and read /metrics, nothing else. */
  watchToken: string | undefined;
  logLevel: string;
  /** Browser origins allowed to open the socket (unset: any); clients that send no Origin always may. */
  allowedOrigins: string[] | undefined;
  /** Host names requests may be addressed to; unset: any with a token, loopback and HOST without. */
  allowedHosts: string[] | undefined;
  /** Inits a second per connection (and the burst allowed). */
  initRate: number;
  maxUploadsPerConnection: number;
  /** Connections watching uploads at once (watchers are exempt from the idle rule). */
  maxWatchers: number;
  /** A connection with no request for this long (ms), and not watching, is dropped. */
  idleTimeoutMs: number;
  /** 'received' hashes chunks as they arrive (no second read); 'disk' re-reads the temp file at merge. */
  verify: 'received' | 'disk';
  /**
   * The SHA-256 record of a stored file: 'background' computes it after the merge (the answer has
   * none; the record gains it), 'inline' with the MD5 check (in the answer), 'off' never.
   */
  sha256: 'background' | 'inline' | 'off';
  /** Frame bytes in memory across all connections (read and not yet admitted, or admitted and not yet written); sockets are paused beyond it. */
  maxBufferedBytes: number;
  /** A download whose reader reads nothing for this long (ms) is closed. */
  sendTimeoutMs: number;
  /** Reverse proxies in front that append to X-Forwarded-For (0: the header is ignored). */
  trustProxy: number;
  /** On SIGTERM, how long (ms) downloads and chunks in flight may take to finish before the server exits. */
  drainTimeoutMs: number;
  /** Redis mode: upload state, locks and watch events in this Redis, shared by every node (DB_DIR unused). */
  redisUrl: string | undefined;
  /** The longest a hook (authorize, onUploadCreate, onUploadComplete) may take (ms); then the request gets a retryable E_BUSY. */
  hookTimeoutMs: number;
  /** Object storage: files in this S3 bucket (UPLOAD_DIR then holds only the chunks in progress). Unset: files under UPLOAD_DIR. */
  s3Bucket: string | undefined;
  /** A custom S3 endpoint (radosgw, MinIO, R2...), addressed path-style; unset: AWS. */
  s3Endpoint: string | undefined;
  s3Region: string;
  /** Prepended to every key upwire writes in the bucket. */
  s3Prefix: string;
  /** Downloads from object storage: streamed through upwire ('proxy'), or a redirect to a presigned URL ('redirect'). */
  downloads: 'proxy' | 'redirect';
  /**
   * Who may delete stored files: 'auth', callers that authenticated (the upload token, or a
   * principal of the authorize hook), so a server open to anyone is not open to wiping; 'open',
   * anyone who may upload, also without any token; 'off', no one.
   */
  deletes: 'auth' | 'open' | 'off';
}

export const DEFAULTS: ServerConfig = {
  port: 3000,
  host: '127.0.0.1',
  uploadDir: './uploads',
  dbDir: './db',
  chunkSize: DEFAULT_CHUNK_SIZE,
  maxFileSize: 1024 ** 4, // 1 TiB
  uploadToken: undefined,
  partialTtlMs: 24 * 3600_000,
  emptyTtlMs: 10 * 60_000,
  maxUploads: 10_000,
  maxUploadsPerAddress: 1000,
  fsync: true,
  watchToken: undefined,
  logLevel: 'info',
  allowedOrigins: undefined,
  allowedHosts: undefined,
  initRate: 1000,
  maxUploadsPerConnection: 64,
  maxWatchers: 1000,
  idleTimeoutMs: 15 * 60_000,
  verify: 'received',
  sha256: 'background',
  maxBufferedBytes: 128 * 1024 * 1024,
  sendTimeoutMs: 60_000,
  trustProxy: 0,
  drainTimeoutMs: 30_000,
  redisUrl: undefined,
  hookTimeoutMs: 30_000,
  s3Bucket: undefined,
  s3Endpoint: undefined,
  s3Region: 'us-east-1',
  s3Prefix: 'upwire/',
  downloads: 'proxy',
  deletes: 'auth',
};

/** Each setting: its environment variable, its CLI flag, and how to read it. */
const SETTINGS = {
  port: { env: 'PORT', flag: 'port', parse: parsePort },
  host: { env: 'HOST', flag: 'host', parse: parseText },
  uploadDir: { env: 'UPLOAD_DIR', flag: 'upload-dir', parse: parseText },
  dbDir: { env: 'DB_DIR', flag: 'db-dir', parse: parseText },
  chunkSize: { env: 'CHUNK_SIZE', flag: 'chunk-size', parse: parseChunkSize },
  maxFileSize: { env: 'MAX_FILE_SIZE', flag: 'max-file-size', parse: parseBytes },
  uploadToken: { env: 'UPLOAD_TOKEN', flag: 'upload-token', parse: (v: string) => v || undefined },
  partialTtlMs: { env: 'PARTIAL_TTL', flag: 'partial-ttl', parse: parseDuration },
  emptyTtlMs: { env: 'EMPTY_TTL', flag: 'empty-ttl', parse: parseDuration },
  maxUploads: { env: 'MAX_UPLOADS', flag: 'max-uploads', parse: (v: string) => positiveInteger(v) },
  maxUploadsPerAddress: { env: 'MAX_UPLOADS_PER_ADDRESS', flag: 'max-uploads-per-address', parse: (v: string) => positiveInteger(v) },
  fsync: { env: 'FSYNC', flag: 'fsync', parse: parseBoolean },
  watchToken: { env: 'WATCH_TOKEN', flag: 'watch-token', parse: (v: string) => v || undefined },
  logLevel: { env: 'LOG_LEVEL', flag: 'log-level', parse: parseLogLevel },
  allowedOrigins: { env: 'ALLOWED_ORIGINS', flag: 'allowed-origins', parse: parseOrigins },
  allowedHosts: { env: 'ALLOWED_HOSTS', flag: 'allowed-hosts', parse: parseHosts },
  initRate: { env: 'INIT_RATE', flag: 'init-rate', parse: (v: string) => positiveInteger(v) },
  maxUploadsPerConnection: { env: 'MAX_UPLOADS_PER_CONNECTION', flag: 'max-uploads-per-connection', parse: (v: string) => positiveInteger(v) },
  maxWatchers: { env: 'MAX_WATCHERS', flag: 'max-watchers', parse: (v: string) => positiveInteger(v) },
  idleTimeoutMs: { env: 'IDLE_TIMEOUT', flag: 'idle-timeout', parse: parseDuration },
  verify: { env: 'VERIFY', flag: 'verify', parse: parseVerify },
  sha256: { env: 'SHA256', flag: 'sha256', parse: parseSha256 },
  maxBufferedBytes: { env: 'MAX_BUFFERED', flag: 'max-buffered', parse: parseBytes },
  sendTimeoutMs: { env: 'SEND_TIMEOUT', flag: 'send-timeout', parse: parseDuration },
  trustProxy: { env: 'TRUST_PROXY', flag: 'trust-proxy', parse: parseTrustProxy },
  drainTimeoutMs: { env: 'DRAIN_TIMEOUT', flag: 'drain-timeout', parse: parseDuration },
  redisUrl: { env: 'REDIS_URL', flag: 'redis-url', parse: parseRedisUrl },
  hookTimeoutMs: { env: 'HOOK_TIMEOUT', flag: 'hook-timeout', parse: parseDuration },
  s3Bucket: { env: 'S3_BUCKET', flag: 's3-bucket', parse: (v: string) => v || undefined },
  s3Endpoint: { env: 'S3_ENDPOINT', flag: 's3-endpoint', parse: parseEndpoint },
  s3Region: { env: 'S3_REGION', flag: 's3-region', parse: parseText },
  s3Prefix: { env: 'S3_PREFIX', flag: 's3-prefix', parse: parsePrefix },
  downloads: { env: 'DOWNLOADS', flag: 'downloads', parse: parseDownloads },
  deletes: { env: 'DELETES', flag: 'deletes', parse: parseDeletes },
} as const satisfies { [K in keyof ServerConfig]: { env: string; flag: string; parse: (v: string) => ServerConfig[K] } };

export { ConfigError } from '../model/errors.js';

export const CONFIG_FLAGS = Object.values(SETTINGS).map((s) => s.flag);
/** Each setting's key, environment variable and flag (for `upwire serve --help`). */
export const CONFIG_SETTINGS = Object.entries(SETTINGS).map(([key, s]) => ({ key: key as keyof ServerConfig, env: s.env, flag: s.flag }));

/**
 * Configuration from the environment, overridden by CLI flags (`--port 8080`).
 * Throws ConfigError naming the setting when a value is unusable, so a bad start fails at once.
 */
export function loadConfig(env: Record<string, string | undefined>, flags: Record<string, string | undefined> = {}): ServerConfig {
  const config: Record<string, unknown> = { ...DEFAULTS };
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const raw = flags[setting.flag] ?? env[setting.env];
    if (raw === undefined) continue;
    try {
      config[key] = setting.parse(raw);
    } catch (err) {
      throw new ConfigError(`${setting.env} (--${setting.flag}) = ${JSON.stringify(raw)}: ${(err as Error).message}`);
    }
  }
  return config as unknown as ServerConfig;
}

function parseEndpoint(value: string): string | undefined {
  if (value === '') return undefined;
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must be an http:// or https:// URL');
  return value;
}

/** Key characters S3 takes safely, ending in '/' or empty. */
function parsePrefix(value: string): string {
  if (!/^(?:[\w.!*'()-]+\/)*$/.test(value)) throw new Error('must be empty or folders of letters, digits and -_.!*\'(), each ending in /');
  return value;
}

function parseDownloads(value: string): 'proxy' | 'redirect' {
  if (value !== 'proxy' && value !== 'redirect') throw new Error('must be proxy or redirect');
  return value;
}

function parseDeletes(value: string): 'auth' | 'open' | 'off' {
  if (value !== 'auth' && value !== 'open' && value !== 'off') throw new Error('must be auth, open or off');
  return value;
}

function parseRedisUrl(value: string): string | undefined {
  if (value === '') return undefined;
  const url = new URL(value);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('must be a redis:// or rediss:// URL');
  return value;
}

/** off, on (one proxy), or the number of proxies in front (0-10). */
function parseTrustProxy(value: string): number {
  const v = value.trim().toLowerCase();
  if (v === 'off' || v === 'false') return 0;
  if (v === 'on' || v === 'true') return 1;
  if (!/^\d+$/.test(v) || Number(v) > 10) throw new Error('must be off, on, or the number of proxies in front (0-10)');
  return Number(v);
}

/**
 * A setting given to createUpwire, held to the rules of its environment variable (the value is in
 * the config's own units: milliseconds, bytes, lists as arrays). Throws ConfigError naming it.
 */
export function checkSetting(key: keyof ServerConfig, value: unknown): void {
  if (value === undefined) return;
  const fail = (why: string) => new ConfigError(`option ${key} = ${JSON.stringify(value)}: ${why}`);
  if (key.endsWith('Ms')) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw fail('must be a positive number of milliseconds');
    return;
  }
  if (key === 'uploadToken' || key === 'watchToken' || key === 'redisUrl' || key === 's3Bucket' || key === 's3Endpoint') {
    if (typeof value !== 'string') throw fail('must be a string');
    if (key !== 'redisUrl' && key !== 's3Endpoint') return;
  }
  if (key === 'allowedOrigins' || key === 'allowedHosts') {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw fail('must be an array of strings');
  }
  if (key === 'trustProxy') {
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 10) throw fail('must be the number of proxies in front (0-10)');
    return;
  }
  try {
    SETTINGS[key].parse(Array.isArray(value) ? value.join(',') : String(value));
  } catch (err) {
    throw fail((err as Error).message);
  }
}

function parseText(value: string): string {
  if (value.trim() === '') throw new Error('must not be empty');
  return value;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new Error('must be a port number 0..65535');
  return port;
}

const BYTE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Bytes, optionally with a binary unit: 4194304, 4M, 4MiB, 1g. */
export function parseBytes(value: string): number {
  const match = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  const unit = match && BYTE_UNITS[match[2]!.toLowerCase()];
  const bytes = match && unit ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error('must be a positive byte count such as 4194304 or 4M');
  return bytes;
}

function parseChunkSize(value: string): number {
  const bytes = parseBytes(value);
  if (bytes < MIN_CHUNK_SIZE || bytes > MAX_CHUNK_SIZE) {
    throw new Error(`must be between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE} bytes`);
  }
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { '': 1000, s: 1000, m: 60_000, h: 3600_000, d: 86400_000 };

/** Seconds, or a number with s/m/h/d: 90, 90s, 15m, 24h, 7d. Returns milliseconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/i.exec(value.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]! : NaN;
  if (!Number.isFinite(ms) || ms <= 0) throw new Error('must be a positive duration such as 3600, 90s, 15m, 24h or 7d');
  return Math.round(ms);
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new Error('must be a whole number >= 1');
  return n;
}

/** Comma-separated origins such as https://uploads.example.com,http://localhost:5173. */
function parseOrigins(value: string): string[] | undefined {
  const origins = value.split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of origins) {
    const url = new URL(origin);
    if (url.origin !== origin) throw new Error(`${origin} is not an origin (scheme://host[:port], no path)`);
  }
  return origins.length > 0 ? origins : undefined;
}

/** Comma-separated host names (no port): uploads.example.com,10.0.0.5. */
function parseHosts(value: string): string[] | undefined {
  const hosts = value.split(',').map((h) => h.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')).filter(Boolean);
  for (const host of hosts) if (/[/:@\s]/.test(host) && !host.includes('::') && !/^[0-9a-f:]+$/.test(host)) throw new Error(`${host} is not a host name`);
  return hosts.length > 0 ? hosts : undefined;
}

function parseVerify(value: string): 'received' | 'disk' {
  if (value !== 'received' && value !== 'disk') throw new Error('must be received or disk');
  return value;
}

function parseSha256(value: string): 'background' | 'inline' | 'off' {
  if (value !== 'background' && value !== 'inline' && value !== 'off') throw new Error('must be background, inline or off');
  return value;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseLogLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) throw new Error(`must be one of ${LOG_LEVELS.join(', ')}`);
  return value;
}

function parseBoolean(value: string): boolean {
  if (/^(1|true|on|yes)$/i.test(value)) return true;
  if (/^(0|false|off|no)$/i.test(value)) return false;
  throw new Error('must be on or off');
}
