import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { Decoder, Encoder } from 'socket.io-parser';
import { KiB, MAX_FRAME_SIZE, MiB, UPLOAD_NAMESPACE, type ClientToServerEvents, type ServerToClientEvents } from '../protocol/index.js';
import { allowedHosts, hostAllowed, originAllowed, roleOf, type Role } from './auth.js';
import type { ServerConfig } from './config.js';
import { FileSystemBytes } from './bytes/file-system.js';
import { MemoryLocker } from './lock/memory.js';
import { fanOut } from './events.js';
import { registerHandlers } from './handlers.js';
import { httpHandler } from './http.js';
import { Intake } from './intake.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { logEndings, observeAnswers } from './observe.js';
import { UploadService } from './service.js';
import { LevelStores } from './store/level.js';
import { WatcherHub } from './watchers.js';

export interface UpwireServer {
  /** Base URL, e.g. http://127.0.0.1:3000 (the real port when config.port was 0). */
  readonly url: string;
  readonly port: number;
  readonly service: UploadService;
  /** Stops accepting, lets in-flight writes finish, closes the database. */
  close(): Promise<void>;
}

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

/** The composition root: builds the concrete stores and wires them into the handlers. */
export async function startServer(config: ServerConfig, options: { logger?: Logger } = {}): Promise<UpwireServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  const stores = new LevelStores(config.dbDir);
  await stores.open();
  try {
    const hosts = allowedHosts(config);
    const bytes = new FileSystemBytes(config.uploadDir);
    await bytes.open();
    const intake = new Intake({ total: config.maxBufferedBytes, perConnection: Math.min(config.maxBufferedBytes, MAX_CONNECTION_BUFFER) });
    // Read when /metrics is scraped, by which time `service` below exists.
    const metrics: Metrics = new Metrics((): number => service.snapshot().length, intake, (): number => service.partialUploads);
    // The HTTP handler is registered before socket.io attaches, so socket.io can route around it.
    const http = createServer(httpHandler({ files: stores, bytes, uploadToken: config.uploadToken, watchToken: config.watchToken, metrics, sendTimeoutMs: config.sendTimeoutMs, allowedHosts: hosts, storedGone: (md5): Promise<void> => service.checkStored(md5) }));
    const io = new Server<ClientToServerEvents, ServerToClientEvents>(http, {
      maxHttpBufferSize: MAX_FRAME_BYTES,
      pingInterval: PING_INTERVAL_MS,
      pingTimeout: PING_TIMEOUT_MS,
      parser: { Encoder, Decoder: OneAttachmentDecoder },
      serveClient: false,
      perMessageDeflate: false,
      allowRequest: (req, callback) => callback(null, originAllowed(req.headers.origin, config.allowedOrigins) && hostAllowed(req.headers.host, hosts)),
    });
    const nsp = io.of(UPLOAD_NAMESPACE);
    const hub = new WatcherHub(nsp);
    const service = new UploadService({ uploads: stores, files: stores, bytes, locker: new MemoryLocker(), events: fanOut(hub, metrics, logEndings(log)), config });
    await service.open();
    nsp.use((socket, next) => {
      const role = roleOf((socket.handshake.auth as { token?: unknown }).token, config);
      if (!role) return next(Object.assign(new Error('missing or wrong token'), { data: { code: 'E_UNAUTHORIZED' } }));
      (socket.data as { role: Role }).role = role;
      next();
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
    await listen(http, config.port, config.host);
    const { port } = http.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return {
      url: `http://${host}:${port}`,
      port,
      service,
      async close() {
        hub.close();
        const closed = new Promise<void>((resolve) => io.close(() => resolve()));
        http.closeAllConnections();
        await closed;
        await service.close();
        await stores.close();
      },
    };
  } catch (err) {
    await stores.close();
    throw err;
  }
}

function listen(http: HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
}
