import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Namespace, Server as IoServer } from 'socket.io';
import { UPLOAD_NAMESPACE, type ClientToServerEvents, type EndedEvent, type ServerToClientEvents, type UploadSnapshot } from '../protocol/index.js';
import { Access } from './access/access.js';
import { FileSystemBytes } from './bytes/file-system.js';
import { httpHandler, type HttpHandler } from './http/handler.js';
import { MemoryLocker } from './lock/memory.js';
import { withinTime, type FileDeletedEvent, type UploadCompleteEvent, type UploadCreateEvent } from './model/hooks.js';
import { fanOut, type UploadEvents } from './observe/events.js';
import { createLogger } from './observe/log.js';
import { Metrics } from './observe/metrics.js';
import { checkStores, settingsOf, type UpwireOptions, type UpwireSettings } from './options.js';
import type { ByteStore } from './bytes/types.js';
import { join } from 'node:path';
import { openRedisState } from './redis-mode.js';
import { logEndings } from './socket/answer-log.js';
import { attachUploads } from './socket/attach.js';
import { Intake } from './socket/intake.js';
import { MAX_CONNECTION_BUFFER } from './socket/options.js';
import { WatcherHubs } from './socket/watch-hub.js';
import { LevelStores } from './store/level.js';
import { UploadService } from './upload/service.js';

export { MAX_FRAME_BYTES, PING_INTERVAL_MS, PING_TIMEOUT_MS, upwireSocketOptions } from './socket/options.js';
export type { UpwireOptions, UpwireSettings } from './options.js';

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
  /** A principal's stored file was deleted (after onFileDeleted). */
  'file:deleted': [FileDeletedEvent];
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

/**
 * The composition root: builds the stores (the embedded defaults, or those given), the service and
 * the access rules, and offers the two ways in: a socket.io namespace and an HTTP handler.
 * `startServer` (upwire serve) is built on it, with a server and a port of its own.
 */
export async function createUpwire(options: UpwireOptions = {}): Promise<Upwire> {
  const config = settingsOf(options);
  const log = options.logger ?? createLogger('info');
  const given = options.stores ?? {};
  // Redis mode: state and locks shared by every node (see redis-mode.ts); else LevelDB under dbDir.
  const redis = config.redisUrl === undefined ? undefined : await openRedisState(config.redisUrl, log);
  const level = redis || (given.uploads && given.files) ? undefined : new LevelStores(config.dbDir);
  try {
    await level?.open();
    const uploads = given.uploads ?? redis?.stores ?? level!;
    const files = given.files ?? redis?.stores ?? level!;
    // Object storage (S3_BUCKET; the SDK is an optional peer, loaded only then), else files under uploadDir.
    const ownBytes = given.bytes ? undefined : config.s3Bucket === undefined ? new FileSystemBytes(config.uploadDir) : await s3Bytes(config);
    await ownBytes?.open();
    const bytes = given.bytes ?? ownBytes!;
    for (const warning of checkStores(bytes, { severalNodes: redis !== undefined, fsync: config.fsync, verify: config.verify })) log.warn(warning);
    const { authorize, onUploadCreate, onUploadComplete, onFileDeleted } = options.hooks ?? {};
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
    const hubs = new WatcherHubs();
    let draining = false;
    let attached: { socketPath: string; namespace: string } | undefined;
    // Read when /metrics is scraped, by which time `service` below exists.
    const metrics: Metrics = new Metrics((): number => service.snapshot().length, intake, (): number => service.partialUploads);
    const service: UploadService = new UploadService({
      uploads, files, bytes, locker: given.locker ?? redis?.locker ?? new MemoryLocker(),
      // Where an upload's events go: the watchers of every namespace attached, upwire.events, /metrics, the log.
      events: fanOut(hubs, publicEvents(emit), metrics, logEndings(log)),
      config,
      perPrincipal: access.perPrincipal,
      severalNodes: redis !== undefined,
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
        onFileDeleted: async (event) => {
          // Told first: the deletion stands whatever the hook answers.
          emit('file:deleted', event);
          if (onFileDeleted) await withinTime('onFileDeleted', config.hookTimeoutMs, onFileDeleted)(event);
        },
      },
    });
    await service.open();
    return {
      events,
      service,
      metrics,
      attach(io, { namespace = UPLOAD_NAMESPACE } = {}) {
        const { nsp, hub } = attachUploads(io, namespace, {
          service, access, config, intake, metrics, log, draining: () => draining, ...(redis ? { adapt: redis.adapt } : {}),
        });
        attached ??= { socketPath: io.path(), namespace };
        hubs.add(hub);
        return nsp;
      },
      httpHandler({ basePath = '', socketPath } = {}) {
        // The size limit as init applies it (service.ts): the smaller of MAX_FILE_SIZE and what the byte store can hold.
        const maxFileSize = Math.min(config.maxFileSize, bytes.capabilities.maxPartSize * bytes.capabilities.maxParts);
        const page = () => ({ socketPath: socketPath ?? attached?.socketPath ?? 'socket.io', namespace: attached?.namespace ?? UPLOAD_NAMESPACE, maxFileSize });
        return httpHandler({
          files, bytes, access, metrics, sendTimeoutMs: config.sendTimeoutMs, storedGone: (md5) => service.checkStored(md5), page, trustProxy: config.trustProxy,
          log: (message, details) => log.warn(details, message), downloads: config.downloads,
          hold: (md5) => service.holdStored(md5), remove: (md5, principal) => service.delete(md5, { principal }),
        }, basePath);
      },
      async drain(timeoutMs) {
        draining = true;
        const deadline = Date.now() + timeoutMs;
        while (intake.admitted > 0 && Date.now() < deadline) await sleep(20);
      },
      async close() {
        hubs.close();
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

async function s3Bytes(config: UpwireSettings): Promise<ByteStore> {
  const { S3Bytes } = await import('./bytes/s3.js');
  return new S3Bytes({
    bucket: config.s3Bucket!, prefix: config.s3Prefix, region: config.s3Region, spoolDir: join(config.uploadDir, '.spool'),
    ...(config.s3Endpoint === undefined ? {} : { endpoint: config.s3Endpoint }),
  });
}

/** The events of upwire.events that the service's own events carry. */
function publicEvents(emit: <K extends keyof UpwireEventMap>(name: K, ...args: UpwireEventMap[K]) => void): Partial<UploadEvents> {
  return { progress: (snapshot) => emit('upload:progress', snapshot), ended: (event) => emit('upload:ended', event) };
}
