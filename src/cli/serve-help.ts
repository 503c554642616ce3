/*
 * `upwire serve`'s options: one per server setting (config.ts says their flags and environment
 * variables), and --workers. Loaded for `serve --help` and to parse `serve`'s command line, without
 * the server's packages (config.ts imports none), so the help works on a client-only install.
 */
import { CONFIG_SETTINGS, DEFAULTS, type ServerConfig } from '../server/config/config.js';
import type { CommandSpec, OptionSpec } from './options.js';
import { humanBytes } from './units.js';

/** What each setting does, in a line; the compiler sees that none is missing. */
const MEANING = {
  port: ['N', 'the port; 0 picks a free one'],
  host: ['H', 'the address to listen on; 0.0.0.0 for every interface'],
  uploadDir: ['DIR', 'stored files and the chunks of uploads in progress'],
  dbDir: ['DIR', 'LevelDB: uploads in progress, received chunks, the file index'],
  chunkSize: ['BYTES', 'chunk size for clients that state no wish (64K to 16M)'],
  maxFileSize: ['BYTES', 'larger files are refused (E_TOO_LARGE), before the client hashes them'],
  uploadToken: ['T', 'the token uploads need; unset: open'],
  partialTtlMs: ['DURATION', 'a partial upload untouched this long is forgotten (90s, 15m, 24h, 7d)'],
  emptyTtlMs: ['DURATION', 'a partial upload that received no byte this long after its init is forgotten'],
  maxUploads: ['N', 'partial uploads kept at once; beyond, E_BUSY'],
  maxUploadsPerAddress: ['N', 'partial uploads from one client address; beyond, E_RATE_LIMIT'],
  fsync: ['on|off', 'sync chunk bytes before they are acknowledged (off: faster, not power-loss safe)'],
  watchToken: ['T', 'a read-only token for watchers and /metrics'],
  logLevel: ['LEVEL', 'fatal, error, warn, info, debug, trace or silent'],
  allowedOrigins: ['O,O', 'browser origins that may open a socket'],
  allowedHosts: ['H,H', 'host names requests may be addressed to'],
  initRate: ['N', 'inits a second per connection'],
  maxUploadsPerConnection: ['N', 'uploads open at once on one connection'],
  maxWatchers: ['N', 'connections watching at once'],
  idleTimeoutMs: ['DURATION', 'a connection with no request this long, and not watching, is dropped'],
  verify: ['received|disk', 'hash chunks as they arrive, or read the file back at merge'],
  sha256: ['background|inline|off', 'when a stored file\'s SHA-256 is recorded'],
  maxBufferedBytes: ['BYTES', 'frame bytes in memory across all connections'],
  sendTimeoutMs: ['DURATION', 'a download whose reader reads nothing this long is closed'],
  trustProxy: ['N|on|off', 'reverse proxies in front whose X-Forwarded-For is believed'],
  drainTimeoutMs: ['DURATION', 'on SIGTERM, how long work in flight may take to finish'],
  redisUrl: ['URL', 'Redis mode: state shared by several nodes (redis://H:P)'],
  hookTimeoutMs: ['DURATION', 'the longest an embedder\'s hook may take'],
  s3Bucket: ['NAME', 'object storage: files in this S3 bucket'],
  s3Endpoint: ['URL', 'a custom S3 endpoint (radosgw, MinIO, R2)'],
  s3Region: ['REGION', 'the S3 region'],
  s3Prefix: ['PREFIX', 'prepended to every key written in the bucket'],
  downloads: ['proxy|redirect', 'object storage downloads: streamed through upwire, or a presigned redirect'],
  deletes: ['auth|open|off', 'who may delete stored files: authenticated callers, anyone who may upload, or no one'],
} as const satisfies Record<keyof ServerConfig, readonly [string, string]>;

const BYTES: ReadonlySet<keyof ServerConfig> = new Set(['chunkSize', 'maxFileSize', 'maxBufferedBytes']);

/** Defaults that depend on other settings, or read better in words. */
const SHOWN: Partial<Record<keyof ServerConfig, string>> = {
  allowedOrigins: 'any',
  allowedHosts: 'any with a token; without one, loopback and --host',
  trustProxy: 'off',
};

/** A default as a user would type it: 4 MiB, 24h, on, unset. */
function shown(key: keyof ServerConfig): string {
  const words = SHOWN[key];
  if (words !== undefined) return words;
  const value = DEFAULTS[key];
  if (value === undefined) return 'unset';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number' && BYTES.has(key)) return humanBytes(value);
  if (typeof value === 'number' && key.endsWith('Ms')) return duration(value);
  return Array.isArray(value) ? value.join(',') : String(value);
}

function duration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const OPTIONS: Record<string, OptionSpec> = Object.fromEntries([
  ...CONFIG_SETTINGS.map(({ key, env, flag }): [string, OptionSpec] => {
    const [value, help] = MEANING[key];
    return [flag, { type: 'string', value, help: `${help}; env ${env}`, default: shown(key) }];
  }),
  ['workers', { type: 'string', value: 'N', help: 'server processes on one port (needs --redis-url)', default: '1' }],
]);

export const SERVE: CommandSpec = {
  name: 'serve',
  usage: 'upwire serve [options]',
  summary: 'Runs the upload server until SIGTERM or Ctrl-C, then drains and exits 0 (a second signal stops at once). Each option is also an environment variable; the flag wins.',
  options: OPTIONS,
  notes: ['Sizes take K, M, G, T (binary units). exit: 0 after a clean stop, 2 a bad setting or a failed start.'],
};
