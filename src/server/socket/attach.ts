import type { Namespace, Server as IoServer } from 'socket.io';
import { UpwireError, type ClientToServerEvents, type ServerToClientEvents } from '../../protocol/index.js';
import type { Access } from '../access/access.js';
import { clientAddress } from '../access/client-address.js';
import type { ServerConfig } from '../config/config.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { UploadService } from '../upload/service.js';
import { observeAnswers } from './answer-log.js';
import type { Intake } from './intake.js';
import { checkSocketServer } from './options.js';
import { registerHandlers } from './register.js';
import { WatcherHub } from './watch-hub.js';

export type UploadNamespace = Namespace<ClientToServerEvents, ServerToClientEvents>;

export interface AttachDeps {
  service: UploadService;
  access: Access;
  config: Pick<ServerConfig, 'trustProxy' | 'initRate' | 'maxUploadsPerConnection' | 'idleTimeoutMs' | 'maxWatchers'>;
  intake: Intake;
  metrics: Metrics;
  log: Logger;
  /** True while the server drains before it stops: requests that would write are refused, retryably. */
  draining: () => boolean;
  /** Redis mode: gives the server the Redis adapter, so watch events reach every node's watchers. */
  adapt?: (io: IoServer) => void;
}

/**
 * The upload protocol on a namespace of a socket.io server: who may connect (origins, hosts, the
 * token or the authorize hook, before the connection is accepted), one handler per request, and
 * the watchers' hub of that namespace (returned, to be told of uploads' progress).
 */
export function attachUploads(io: IoServer, namespace: string, deps: AttachDeps): { nsp: UploadNamespace; hub: WatcherHub } {
  const { access, config, metrics, log } = deps;
  checkSocketServer(io);
  deps.adapt?.(io);
  const nsp = io.of(namespace) as UploadNamespace;
  const hub = new WatcherHub(nsp);
  nsp.use((socket, next) => {
    const { headers, auth } = socket.handshake;
    // The address the per-address caps and the authorize hook see; register.ts reads it back.
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
  registerHandlers(nsp, deps.service, {
    observe: observeAnswers(log, metrics),
    logError: (err, event) => log.error({ err, event }, `${event} failed`),
    limits: config,
    idleTimeoutMs: config.idleTimeoutMs,
    intake: deps.intake,
    maxWatchers: config.maxWatchers,
    draining: deps.draining,
    perPrincipal: access.perPrincipal,
    deleteRefused: (principal) => access.deleteRefused(principal),
  });
  return { nsp, hub };
}
