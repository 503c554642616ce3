import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Namespace, Server as IoServer, ServerOptions as IoServerOptions } from 'socket.io';
import { Decoder, Encoder } from 'socket.io-parser';
import {
  KiB, MAX_FRAME_SIZE, MiB, UPLOAD_NAMESPACE, UpwireError,
  type ClientToServerEvents, type EndedEvent, type ServerToClientEvents, type UploadSnapshot,
} from '../protocol/index.js';
import { Access } from './access.js';
import { FileSystemBytes } from './bytes/file-system.js';
import type { ByteStore } from './bytes/types.js';
import { checkSetting, ConfigError, DEFAULTS, type ServerConfig } from './config.js';
import { fanOut } from './events.js';
import { registerHandlers } from './handlers.js';
import { withinTime, type UploadCompleteEvent, type UploadCreateEvent, type UpwireHooks } from './hooks.js';
import { httpHandler, type HttpHandler } from './http.js';
import { Intake } from './intake.js';
import { clientAddress } from './proxy.js';
import { MemoryLocker } from './lock/memory.js';
import type { Locker } from './lock/types.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { logEndings, observeAnswers } from './observe.js';
import { UploadService } from './service.js';
import { openRedisState } from './redis-mode.js';
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
  /**
   * Stores to use instead of the embedded ones (LevelDB under dbDir, files under uploadDir, locks in
   * this process). Stores given here are the caller's to open before and close after; upwire opens
   * and closes only those it creates.
   */
  stores?: Partial<{ uploads: UploadStateStore; files: FileIndex; bytes: ByteStore; locker: Locker }>;
  /** The host the server listens on, when upwire serve runs it: it is one of the host names answered without a token. */
  host?: string;
}

/** What observers of an embedded upwire can listen to (`upwire.events.on(...)`); listeners cannot refuse anything (hooks can). */
export interface UpwireEventMap {
  /** An upload was admitted for a principal (after onUploadCreate), with the metadata kept. */
  'upload:created': [UploadCreateEvent];
  /** Bytes were received (at most a few times a second per upload). */
  'upload:progress': [UploadSnapshot];
  /** A principal's file is stored (after onUploadComplete). */
  'upload:completed': [UploadCompleteEvent];
  /** An upload ended without a stored file: aborted, expired, or failed verification. */
  'upload:ended': [EndedEvent];
}

export interface Upwire {
  readonly events: EventEmitter<UpwireEventMap>;
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
  /**
   * Before a stop: requests that would write (init, chunk, merge) are refused with a retryable
   * E_BUSY from now on, and this resolves when the frames already received are written, or after
   * `timeoutMs`. What was acknowledged is durable either way; clients resume after the restart.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Stops the sweepers, lets in-flight writes finish and closes the stores upwire opened. */
  close(): Promise<void>;
}

const KNOWN_OPTIONS = new Set<string>([...Object.keys(DEFAULTS), 'hooks', 'logger', 'stores']);
const KNOWN_HOOKS = new Set<string>(['authorize', 'onUploadCreate', 'onUploadComplete']);
const LISTENING = new Set(['port', 'logLevel']);

/** Unknown options are an error: a misspelt limit must not be silently left at its default. */
function settings(options: UpwireOptions): UpwireSettings & { host: string } {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key) || LISTENING.has(key)) throw new ConfigError(`unknown option ${JSON.stringify(key)} for createUpwire`);
  }
  for (const [name, hook] of Object.entries(options.hooks ?? {})) {
    if (!KNOWN_HOOKS.has(name)) throw new ConfigError(`unknown hook ${JSON.stringify(name)} (known: ${[...KNOWN_HOOKS].join(', ')})`);
    if (hook !== undefined && typeof hook !== 'function') throw new ConfigError(`hook ${name} must be a function`);
  }
  const merged: Record<string, unknown> = { ...DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || key === 'hooks' || key === 'logger' || key === 'stores') continue;
    const expected = DEFAULTS[key as keyof ServerConfig];
    if (expected !== undefined && typeof value !== typeof expected) throw new ConfigError(`option ${key} must be a ${typeof expected}`);
    checkSetting(key as keyof ServerConfig, value);
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
  // Redis mode: state and locks shared by every node (see redis-mode.ts); else LevelDB under dbDir.
  const redis = config.redisUrl === undefined ? undefined : await openRedisState(config.redisUrl, log);
  const level = redis || (given.uploads && given.files) ? undefined : new LevelStores(config.dbDir);
  try {
    await level?.open();
    const uploads = given.uploads ?? redis?.stores ?? level!;
    const files = given.files ?? redis?.stores ?? level!;
    const ownBytes = given.bytes ? undefined : new FileSystemBytes(config.uploadDir);
    await ownBytes?.open();
    const bytes = given.bytes ?? ownBytes!;
    // Checked now, not at the first merge: several nodes verify a sealed copy of their own (session.ts).
    if (redis && !bytes.seal) throw new ConfigError('REDIS_URL: several nodes need a byte store that can seal a copy of an upload (ByteStore.seal), and the one given cannot');
    const { authorize, onUploadCreate, onUploadComplete } = options.hooks ?? {};
    const access = new Access(config, authorize && withinTime('authorize', config.hookTimeoutMs, authorize));
    const events = new EventEmitter<UpwireEventMap>();
    // A listener that throws is logged: observing must not fail an upload.
    const emit = <K extends keyof UpwireEventMap>(name: K, ...args: UpwireEventMap[K]) => {
      try {
        (events.emit as (name: K, ...args: UpwireEventMap[K]) => boolean)(name, ...args);
      } catch (err) {
        log.error({ err, event: name }, 'an upwire event listener threw');
      }
    };
    const intake = new Intake({ total: config.maxBufferedBytes, perConnection: Math.min(config.maxBufferedBytes, MAX_CONNECTION_BUFFER) });
    const hubs: WatcherHub[] = [];
    let draining = false;
    let attached: { socketPath: string; namespace: string } | undefined;
    // Read when /metrics is scraped, by which time `service` below exists.
    const metrics: Metrics = new Metrics((): number => service.snapshot().length, intake, (): number => service.partialUploads);
    const service: UploadService = new UploadService({
      uploads, files, bytes, locker: given.locker ?? redis?.locker ?? new MemoryLocker(),
      events: fanOut(
        { progress: (s) => hubs.forEach((h) => h.progress(s)), complete: (f, id) => hubs.forEach((h) => h.complete(f, id)), ended: (e) => hubs.forEach((h) => h.ended(e)) },
        { progress: (s) => emit('upload:progress', s), ended: (e) => emit('upload:ended', e) },
        metrics, logEndings(log),
      ),
      config,
      perPrincipal: access.perPrincipal,
      shared: redis !== undefined,
      hooks: {
        onUploadCreate: async (event) => {
          const verdict = onUploadCreate && (await withinTime('onUploadCreate', config.hookTimeoutMs, onUploadCreate)(event));
          emit('upload:created', { ...event, metadata: verdict?.metadata ?? event.metadata });
          return verdict;
        },
        onUploadComplete: async (event) => {
          if (onUploadComplete) await withinTime('onUploadComplete', config.hookTimeoutMs, onUploadComplete)(event);
          emit('upload:completed', event);
        },
      },
    });
    await service.open();
    return {
      events,
      service,
      metrics,
      attach(io, { namespace = UPLOAD_NAMESPACE } = {}) {
        // The engine's options once it is bound to an HTTP server, the Server's own before.
        const options = (io.engine as unknown as { opts?: Partial<IoServerOptions> } | undefined)?.opts ?? (io as unknown as { opts?: Partial<IoServerOptions> }).opts;
        const limit = options?.maxHttpBufferSize ?? 1e6; // socket.io's default
        if (limit !== undefined && limit < MAX_FRAME_BYTES) {
          throw new ConfigError(`the socket.io server takes messages of ${limit} bytes, and upwire's frames need ${MAX_FRAME_BYTES}: create it with upwireSocketOptions()`);
        }
        redis?.adapt(io);
        const nsp = io.of(namespace) as Namespace<ClientToServerEvents, ServerToClientEvents>;
        attached ??= { socketPath: io.path(), namespace };
        const hub = new WatcherHub(nsp);
        hubs.push(hub);
        nsp.use((socket, next) => {
          const { headers, auth } = socket.handshake;
          // The address the per-address caps and the authorize hook see; handlers.ts reads it back.
          const address = clientAddress(headers, socket.handshake.address, config.trustProxy);
          socket.data.address = address;
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
          log.debug({ conn: socket.id, addr: socket.data.address }, 'connected');
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
          draining: () => draining,
          perPrincipal: access.perPrincipal,
        });
        return nsp;
      },
      httpHandler({ basePath = '', socketPath } = {}) {
        const page = () => ({ socketPath: socketPath ?? attached?.socketPath ?? 'socket.io', namespace: attached?.namespace ?? UPLOAD_NAMESPACE });
        return httpHandler({
          files, bytes, access, metrics, sendTimeoutMs: config.sendTimeoutMs, storedGone: (md5) => service.checkStored(md5), page, trustProxy: config.trustProxy,
          log: (message, details) => log.warn(details, message),
        }, basePath);
      },
      async drain(timeoutMs) {
        draining = true;
        const deadline = Date.now() + timeoutMs;
        while (intake.held > 0 && Date.now() < deadline) await sleep(20);
      },
      async close() {
        hubs.forEach((hub) => hub.close());
        // A merge or hook under way holds an upload's lock at most hookTimeoutMs (then it fails).
        await service.close(config.hookTimeoutMs + 5000);
        await ownBytes?.close();
        await level?.close();
        await redis?.close();
      },
    };
  } catch (err) {
    await level?.close();
    await redis?.close();
    throw err;
  }
}
