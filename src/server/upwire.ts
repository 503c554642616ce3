import type { Namespace, Server as IoServer, ServerOptions as IoServerOptions } from 'socket.io';
import { Decoder, Encoder } from 'socket.io-parser';
import { KiB, MAX_FRAME_SIZE, MiB, UPLOAD_NAMESPACE, UpwireError, type ClientToServerEvents, type ServerToClientEvents } from '../protocol/index.js';
import { Access } from './access.js';
import { FileSystemBytes } from './bytes/file-system.js';
import type { ByteStore } from './bytes/types.js';
import { ConfigError, DEFAULTS, type ServerConfig } from './config.js';
import { fanOut } from './events.js';
import { registerHandlers } from './handlers.js';
import type { UpwireHooks } from './hooks.js';
import { httpHandler, type HttpHandler } from './http.js';
import { Intake } from './intake.js';
import { MemoryLocker } from './lock/memory.js';
import type { Locker } from './lock/types.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { logEndings, observeAnswers } from './observe.js';
import { UploadService } from './service.js';
import { LevelStores } from './store/level.js';
import type { FileIndex, UploadStateStore } from './store/types.js';
import { WatcherHub } from './watchers.js';

/** The largest WebSocket message accepted: one frame of the largest size plus room for its packet. */
export const MAX_FRAME_BYTES = MAX_FRAME_SIZE + 64 * KiB;

/** Frame bytes one connection may hold in the server: an honest client's largest window, and one frame. */
const MAX_CONNECTION_BUFFER = 16 * MiB + MAX_FRAME_SIZE;

/**
 * Heartbeat. A client's pong travels behind the data it has queued, which its flow control keeps
 * to about a second (see client/flow.ts); 30 s leaves room for TCP's retransmission backoff on a
 * lossy link, and a peer that vanished is noticed within 25 + 30 s. The client notices a dead
 * link sooner, from the progress of its own requests.
 */
export const PING_INTERVAL_MS = 25_000;
export const PING_TIMEOUT_MS = 30_000;

/**
 * socket.io's parser, limited to one binary attachment per packet (it accepts 10 by default): a
 * chunk frame carries one, and a packet that announces more could make the server hold that many
 * frames for one request.
 */
class OneAttachmentDecoder extends Decoder {
  constructor() {
    super({ maxAttachments: 1 });
  }
}

/** The socket.io server options upwire needs: give them to the `new Server(...)` that upwire attaches to. */
export function upwireSocketOptions(): Partial<IoServerOptions> {
  return {
    maxHttpBufferSize: MAX_FRAME_BYTES,
    pingInterval: PING_INTERVAL_MS,
    pingTimeout: PING_TIMEOUT_MS,
    parser: { Encoder, Decoder: OneAttachmentDecoder },
    perMessageDeflate: false,
  };
}

/** Settings of an embedded upwire: those of `upwire serve` but the listening ones, all optional. */
export type UpwireSettings = Omit<ServerConfig, 'port' | 'host' | 'logLevel'>;

export interface UpwireOptions extends Partial<UpwireSettings> {
  hooks?: UpwireHooks;
  /** A pino logger; by default JSON lines at LOG_LEVEL info. */
  logger?: Logger;
  /** Stores to use instead of the embedded ones (LevelDB under dbDir, files under uploadDir, locks in this process). */
  stores?: Partial<{ uploads: UploadStateStore; files: FileIndex; bytes: ByteStore; locker: Locker }>;
  /** The host the server listens on, when upwire serve runs it: it is one of the host names answered without a token. */
  host?: string;
}

export interface Upwire {
  /** Serves the upload protocol on a namespace (default `/upload`) of a socket.io server the application owns. */
  attach(io: IoServer, options?: { namespace?: string }): Namespace<ClientToServerEvents, ServerToClientEvents>;
  /**
   * The HTTP side (page, files, health, metrics) as a `(req, res, next?)` handler for node:http,
   * Express 5, Connect or Fastify's raw handler. Paths under `basePath` are served (the prefix is
   * stripped when present: mounted with `app.use('/uploads', handler)`, Express strips it already);
   * any other request goes to `next`, or gets 404 without one. `socketPath` tells the page where
   * socket.io is: by default the path of the server attach() was given (absolute); a relative path
   * ('socket.io') is resolved against the page's own URL, which survives a proxy that adds a prefix.
   */
  httpHandler(options?: { basePath?: string; socketPath?: string }): HttpHandler;
  readonly service: UploadService;
  readonly metrics: Metrics;
  /** Stops the sweepers, lets in-flight writes finish and closes the stores upwire opened. */
  close(): Promise<void>;
}

const KNOWN_OPTIONS = new Set<string>([...Object.keys(DEFAULTS), 'hooks', 'logger', 'stores']);
const LISTENING = new Set(['port', 'logLevel']);

/** Unknown options are an error: a misspelt limit must not be silently left at its default. */
function settings(options: UpwireOptions): UpwireSettings & { host: string } {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key) || LISTENING.has(key)) throw new ConfigError(`unknown option ${JSON.stringify(key)} for createUpwire`);
  }
  const merged: Record<string, unknown> = { ...DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || key === 'hooks' || key === 'logger' || key === 'stores') continue;
    const expected = DEFAULTS[key as keyof ServerConfig];
    if (expected !== undefined && typeof value !== typeof expected) throw new ConfigError(`option ${key} must be a ${typeof expected}`);
    merged[key] = value;
  }
  return merged as unknown as UpwireSettings & { host: string };
}

/**
 * The composition root: builds the stores (the embedded defaults, or those given), the service and
 * the access rules, and offers the two ways in: a socket.io namespace and an HTTP handler.
 * `startServer` (upwire serve) is built on it, with a server and a port of its own.
 */
export async function createUpwire(options: UpwireOptions = {}): Promise<Upwire> {
  const config = settings(options);
  const log = options.logger ?? createLogger('info');
  const given = options.stores ?? {};
  const level = given.uploads && given.files ? undefined : new LevelStores(config.dbDir);
  await level?.open();
  try {
    const uploads = given.uploads ?? level!;
    const files = given.files ?? level!;
    const bytes = given.bytes ?? new FileSystemBytes(config.uploadDir);
    await bytes.open();
    const access = new Access(config, options.hooks?.authorize);
    const intake = new Intake({ total: config.maxBufferedBytes, perConnection: Math.min(config.maxBufferedBytes, MAX_CONNECTION_BUFFER) });
    const hubs: WatcherHub[] = [];
    let attached: { socketPath: string; namespace: string } | undefined;
    // Read when /metrics is scraped, by which time `service` below exists.
    const metrics: Metrics = new Metrics((): number => service.snapshot().length, intake, (): number => service.partialUploads);
    const service: UploadService = new UploadService({
      uploads, files, bytes, locker: given.locker ?? new MemoryLocker(),
      events: fanOut(
        { progress: (s) => hubs.forEach((h) => h.progress(s)), complete: (f) => hubs.forEach((h) => h.complete(f)), ended: (e) => hubs.forEach((h) => h.ended(e)) },
        metrics, logEndings(log),
      ),
      config,
    });
    await service.open();
    return {
      service,
      metrics,
      attach(io, { namespace = UPLOAD_NAMESPACE } = {}) {
        const limit = (io.engine as { opts?: { maxHttpBufferSize?: number } } | undefined)?.opts?.maxHttpBufferSize;
        if (limit !== undefined && limit < MAX_FRAME_BYTES) {
          throw new ConfigError(`the socket.io server takes messages of ${limit} bytes, and upwire's frames need ${MAX_FRAME_BYTES}: create it with upwireSocketOptions()`);
        }
        const nsp = io.of(namespace) as Namespace<ClientToServerEvents, ServerToClientEvents>;
        attached ??= { socketPath: io.path(), namespace };
        const hub = new WatcherHub(nsp);
        hubs.push(hub);
        nsp.use((socket, next) => {
          const { headers, auth, address } = socket.handshake;
          access.socket(headers, auth as Record<string, unknown>, address).then(
            (principal) => {
              socket.data.principal = principal;
              next();
            },
            (err: unknown) => {
              const error = err instanceof UpwireError ? err : new UpwireError('E_INTERNAL');
              next(Object.assign(new Error(error.message), { data: error.toWire() }));
            },
          );
        });
        nsp.on('connection', (socket) => {
          metrics.connections(1);
          log.debug({ conn: socket.id, addr: socket.handshake.address }, 'connected');
          socket.once('disconnect', (reason) => {
            metrics.connections(-1);
            log.debug({ conn: socket.id, reason }, 'disconnected');
          });
        });
        registerHandlers(nsp, service, {
          observe: observeAnswers(log, metrics),
          logError: (err, event) => log.error({ err, event }, `${event} failed`),
          limits: config,
          idleTimeoutMs: config.idleTimeoutMs,
          intake,
          maxWatchers: config.maxWatchers,
        });
        return nsp;
      },
      httpHandler({ basePath = '', socketPath } = {}) {
        const page = () => ({ socketPath: socketPath ?? attached?.socketPath ?? 'socket.io', namespace: attached?.namespace ?? UPLOAD_NAMESPACE });
        return httpHandler({ files, bytes, access, metrics, sendTimeoutMs: config.sendTimeoutMs, storedGone: (md5) => service.checkStored(md5), page }, basePath);
      },
      async close() {
        hubs.forEach((hub) => hub.close());
        await service.close();
        await bytes.close();
        await level?.close();
      },
    };
  } catch (err) {
    await level?.close();
    throw err;
  }
}
