import type { Namespace } from 'socket.io';
import { UpwireError, type ClientToServerEvents, type RequestName, type Result, type ServerToClientEvents } from '../../protocol/index.js';
import type { Principal } from '../model/principal.js';
import { LOCAL, type Caller, type UploadService } from '../upload/service.js';
import { ConnectionLimits, type LimitConfig } from './connection-limits.js';
import type { Intake, Pausable } from './intake.js';
import { operations, type Context, type Handler, type UploadSocket } from './operations.js';
import { WatchLimits } from './watch-limits.js';
import { toWireError, type ErrorLogger } from './wire-errors.js';

export type { ErrorLogger } from './wire-errors.js';

const WATCHER_EVENTS: ReadonlySet<string> = new Set(['watch', 'unwatch', 'status']);
const WRITING_EVENTS: ReadonlySet<string> = new Set(['init', 'prove', 'chunk', 'merge', 'delete']);

/** Told of every answered request: for the log and the metrics. */
export type AnswerObserver = (event: RequestName, socket: UploadSocket, request: unknown, result: Result<object>) => void;

/**
 * Every request with an ack callback gets exactly one answer; a request without one, or an
 * unknown event, is ignored. Nothing thrown here reaches socket.io, so the server stays up.
 */
export function registerHandlers(
  nsp: Namespace<ClientToServerEvents, ServerToClientEvents>,
  service: UploadService,
  options: {
    observe: AnswerObserver; logError: ErrorLogger; limits: LimitConfig; idleTimeoutMs: number; intake: Intake; maxWatchers: number;
    /** True while the server drains before it stops: requests that would write are refused, retryably. */
    draining: () => boolean;
    /** Files belong to principals (an authorize hook): watching, which shows every principal's uploads, is for the watch role only. */
    perPrincipal: boolean;
    /** Why this principal may not delete stored files (DELETES, see access.ts), or undefined when it may. */
    deleteRefused?: (principal: Principal) => string | undefined;
  },
): void {
  const table = operations(service);
  const { observe, logError } = options;
  const watchers = new WatchLimits(options.maxWatchers);
  nsp.on('connection', (socket) => {
    const principal = (socket.data as { principal?: Principal }).principal ?? LOCAL.principal;
    const { role } = principal;
    const { address = socket.handshake.address } = socket.data as { address?: string };
    const caller: Caller = { principal, address };
    const context: Context = { socket, caller, limits: new ConnectionLimits(options.limits), intake: options.intake.connection(pausable(socket)), watchers };
    socket.once('disconnect', () => {
      context.intake.close();
      watchers.left(socket); // socket.io has emptied its rooms by now
    });
    const idle = dropWhenIdle(socket, options.idleTimeoutMs);
    for (const [event, handle] of Object.entries(table) as [RequestName, Handler][]) {
      // socket.io's typed `on` cannot be indexed by a union of event names; the args are validated below.
      (socket.on as (ev: string, listener: (...args: unknown[]) => void) => void)(event, (...args) => {
        const ack = args.at(-1);
        if (typeof ack !== 'function') return;
        idle.refresh();
        const payload = args.length === 2 ? args[0] : undefined;
        const answer = (result: Result<object>) => {
          (ack as (result: Result<object>) => void)(result);
          observe(event, socket, payload, result);
        };
        Promise.resolve()
          .then(() => {
            if (args.length > 2) throw new UpwireError('E_BAD_REQUEST', 'a request carries one payload and an ack');
            if (role === 'watch' && !WATCHER_EVENTS.has(event)) throw new UpwireError('E_UNAUTHORIZED', 'the watch token may only watch');
            if (options.perPrincipal && role !== 'watch' && (event === 'watch' || event === 'unwatch')) {
              throw new UpwireError('E_FORBIDDEN', 'files here belong to principals: watching shows every principal\'s uploads, so it is for the watch role only');
            }
            const noDelete = event === 'delete' ? options.deleteRefused?.(principal) : undefined;
            if (noDelete !== undefined) throw new UpwireError('E_FORBIDDEN', noDelete);
            if (options.draining() && WRITING_EVENTS.has(event)) throw new UpwireError('E_BUSY', 'the server is shutting down; retry', { retryAfterMs: 1000 });
            return handle(payload, context);
          })
          .then(
            (value) => answer({ ok: true, ...value }),
            (err: unknown) => answer({ ok: false, error: toWireError(err, event, logError) }),
          );
      });
    }
  });
}

/** The WebSocket under a socket.io socket (engine.io's websocket transport wraps a `ws` one; a polling transport has none), now and after an upgrade. */
function pausable(socket: UploadSocket): Pausable {
  const { conn } = socket;
  return { websocket: () => (conn.transport as unknown as { socket?: unknown }).socket, onUpgrade: (listener) => conn.on('upgrade', listener) };
}

/**
 * Disconnects a socket that sent no request for `ms`, unless it is watching (watchers are quiet by
 * nature). Dead peers are found sooner by socket.io's pings; this frees sockets that stay open idle.
 */
function dropWhenIdle(socket: UploadSocket, ms: number): { refresh(): void } {
  let last = Date.now();
  const timer = setInterval(() => {
    const watching = [...socket.rooms].some((room) => room.startsWith('watch:'));
    if (!watching && Date.now() - last >= ms) socket.disconnect(true);
  }, Math.min(ms, 60_000)).unref();
  socket.once('disconnect', () => clearInterval(timer));
  return { refresh: () => (last = Date.now()) };
}
