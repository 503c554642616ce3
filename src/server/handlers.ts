import type { Namespace, Socket } from 'socket.io';
import {
  parseChunk, parseInit, parseMd5Request, parseProve, parseWatch, UpwireError,
  type ClientToServerEvents, type RequestName, type Result, type ServerToClientEvents, type WireError,
} from '../protocol/index.js';
import type { ConnectionIntake, Intake, Pausable } from './intake.js';
import { ConnectionLimits, type LimitConfig } from './limits.js';
import type { Principal } from './access.js';
import { LOCAL, type Caller, type UploadService } from './service.js';
import { ALL_UPLOADS_ROOM, uploadRoom } from './watchers.js';

type UploadSocket = Socket<ClientToServerEvents, ServerToClientEvents>;
interface Context { socket: UploadSocket; caller: Caller; limits: ConnectionLimits; intake: ConnectionIntake; watchers: Watchers }

/** Rooms one connection may watch at once (every upload counts as one). */
export const MAX_WATCH_ROOMS = 64;

/** Connections watching now: they are exempt from the idle rule (watchers are quiet), so their number is capped. */
class Watchers {
  readonly #ids = new Set<string>();
  constructor(readonly max: number) {}

  join(socket: UploadSocket): void {
    if (this.#ids.has(socket.id)) {
      if (watchRooms(socket) >= MAX_WATCH_ROOMS) throw new UpwireError('E_RATE_LIMIT', `one connection may watch at most ${MAX_WATCH_ROOMS} uploads`, { retryAfterMs: 60_000 });
      return;
    }
    if (this.#ids.size >= this.max) throw new UpwireError('E_BUSY', `the server has ${this.max} watchers, its limit; retry later`, { retryAfterMs: 30_000 });
    this.#ids.add(socket.id);
  }

  left(socket: UploadSocket): void {
    if (watchRooms(socket) === 0) this.#ids.delete(socket.id);
  }

  get size(): number {
    return this.#ids.size;
  }
}

function watchRooms(socket: UploadSocket): number {
  let rooms = 0;
  for (const room of socket.rooms) if (room.startsWith('watch:')) rooms++;
  return rooms;
}
type Handler = (payload: unknown, context: Context) => Promise<object>;

/** One small handler per protocol operation: validate, then call the service. */
function handlers(service: UploadService): Record<RequestName, Handler> {
  return {
    init: async (payload, { limits, caller }) => {
      const request = parseInit(payload);
      limits.checkInit(request.md5);
      const answer = await service.init(request, caller);
      if (answer.status === 'partial') limits.opened(request.md5);
      return answer;
    },
    prove: (payload, { limits, caller }) => {
      const request = parseProve(payload);
      limits.checkInit(request.md5); // a proof reads stored bytes: counted as an init
      return service.prove(request, caller);
    },
    chunk: async (payload, { socket, intake, caller }) => {
      const request = parseChunk(payload);
      const release = intake.admit(request.data.length);
      try {
        return await service.chunk(request, socket.id, caller);
      } finally {
        release();
      }
    },
    merge: async (payload, { limits, caller }) => {
      const { md5 } = parseMd5Request(payload);
      const answer = await service.merge(md5, caller);
      limits.closed(md5);
      return answer;
    },
    status: (payload, { caller }) => service.status(parseMd5Request(payload).md5, caller),
    abort: async (payload, { limits, caller }) => {
      const { md5 } = parseMd5Request(payload);
      await service.abort(md5, caller);
      limits.closed(md5);
      return {};
    },
    watch: async (payload, { socket, watchers }) => {
      const { md5 } = parseWatch(payload);
      const room = md5 === undefined ? ALL_UPLOADS_ROOM : uploadRoom(md5);
      if (!socket.rooms.has(room)) watchers.join(socket);
      await socket.join(room);
      return { uploads: service.snapshot(md5) };
    },
    unwatch: async (payload, { socket, watchers }) => {
      const { md5 } = parseWatch(payload);
      await socket.leave(md5 === undefined ? ALL_UPLOADS_ROOM : uploadRoom(md5));
      watchers.left(socket);
      return {};
    },
  };
}

export type ErrorLogger = (err: unknown, event: string) => void;

const WATCHER_EVENTS: ReadonlySet<string> = new Set(['watch', 'unwatch', 'status']);
const WRITING_EVENTS: ReadonlySet<string> = new Set(['init', 'prove', 'chunk', 'merge']);

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
  },
): void {
  const table = handlers(service);
  const { observe, logError } = options;
  const watchers = new Watchers(options.maxWatchers);
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

/** The WebSocket under a socket.io socket, whose reading can be paused (a polling transport cannot be). */
function pausable(socket: UploadSocket): Pausable {
  const ws = () => (socket.conn.transport as unknown as { socket?: Partial<Pausable> }).socket;
  return { pause: () => ws()?.pause?.(), resume: () => ws()?.resume?.() };
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

/**
 * Errors of a shared state store that is unreachable for a moment (Redis restarting, a network
 * blip), of a lock lease lost with it, or of a write refused because the lock was lost: the
 * request is worth retrying. upwire's own carry the code E_STORE_UNAVAILABLE; node-redis's keep
 * the default name, and are told apart by their class.
 */
const UNAVAILABLE = new Set([
  'ClientClosedError', 'ClientOfflineError', 'SocketClosedUnexpectedlyError',
  'DisconnectsClientError', 'ConnectionTimeoutError', 'SocketTimeoutError', 'TimeoutError', 'ReconnectStrategyError',
]);

function isUnavailable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === 'E_STORE_UNAVAILABLE') return true;
    if (UNAVAILABLE.has(e.name) || UNAVAILABLE.has(e.constructor.name)) return true;
    // A command in flight on a connection that broke (Redis killed, a network cut).
    if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes((e as NodeJS.ErrnoException).code ?? '')) return true;
  }
  return false;
}

export function toWireError(err: unknown, event: string, logError: ErrorLogger): WireError {
  if (err instanceof UpwireError) return err.toWire();
  if (isUnavailable(err)) {
    return new UpwireError('E_BUSY', 'the server\'s shared state is unreachable for now; retry', { retryAfterMs: 1000 }).toWire();
  }
  if (isNoSpace(err)) return new UpwireError('E_NO_SPACE', 'the server ran out of disk space; try again later').toWire();
  logError(err, event);
  return new UpwireError('E_INTERNAL').toWire();
}

function isNoSpace(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || /no space left/i.test(e.message)) return true;
  }
  return false;
}
