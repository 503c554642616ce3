import { createClient } from 'redis';
import { StoreUnavailable } from '../model/errors.js';

/*
 * The Redis connection every Redis-backed piece shares (the state store, the locker, the adapter's
 * publisher and subscriber): how it connects, closes, and makes one call in bounded time, and the
 * one key both the locker and the stores must name alike (the fence of a lock).
 */

/** The client this module works with: node-redis v5 with its default modules and RESP2. */
export type RedisClient = ReturnType<typeof createClient>;

/** A Redis call that could not be made (the client is reconnecting), failed with the connection, or was not answered in time. */
export class RedisUnavailableError extends StoreUnavailable {
  override name = 'RedisUnavailableError';
}

/**
 * node-redis's errors of a connection that is down or broke mid-command (they keep the default
 * name, and are told apart by their class), and the socket's own: this is the one place that knows
 * them; a call that fails with one rejects with RedisUnavailableError instead.
 */
const CONNECTION_ERRORS = new Set([
  'ClientClosedError', 'ClientOfflineError', 'SocketClosedUnexpectedlyError', 'DisconnectsClientError',
  'ConnectionTimeoutError', 'SocketTimeoutError', 'TimeoutError', 'ReconnectStrategyError',
]);
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

function isConnectionError(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (CONNECTION_ERRORS.has(e.name) || CONNECTION_ERRORS.has(e.constructor.name)) return true;
    if (SOCKET_CODES.has((e as NodeJS.ErrnoException).code ?? '')) return true;
  }
  return false;
}

export interface ConnectOptions {
  /** Connection errors while it reconnects (the client would crash the process on an unheard 'error'). */
  onError?: (err: Error) => void;
  /** How long connecting may take before it fails (ms). */
  connectTimeoutMs?: number;
}

/**
 * A connected client for the stores and the locker: it reconnects forever with a capped backoff
 * (a node outlives a Redis restart), fails commands at once while disconnected (no offline queue: a
 * command queued across an outage would run late, after its caller gave up), and pings every 5 s so an
 * idle connection that a restarted Redis or a firewall dropped is re-made before a request needs it.
 * connect() rejects when Redis cannot be reached in time.
 */
export async function connectRedis(url: string, { onError = () => {}, connectTimeoutMs = 5000 }: ConnectOptions = {}): Promise<RedisClient> {
  let first = true;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    pingInterval: 5000,
    socket: {
      connectTimeout: connectTimeoutMs,
      // The first connection fails fast (a wrong REDIS_URL is a startup error); later ones retry.
      reconnectStrategy: (retries, cause) => (first ? cause : Math.min(50 * 2 ** retries, 2000)),
    },
  });
  client.on('error', onError);
  await client.connect();
  first = false;
  return client;
}

/**
 * Closes a client in bounded time: at once while it is reconnecting (nothing pending will be
 * answered), else gracefully, waiting for the replies still due for at most `ms`; a connection
 * whose replies never come (half-open) is then let go of, so it cannot keep the process alive.
 */
export async function closeRedis(client: RedisClient, ms = 5000): Promise<void> {
  if (!client.isOpen) return;
  if (!client.isReady) return client.destroy();
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([client.close().then(() => true), new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)))]);
  clearTimeout(timer);
  if (!closed) client.unref();
}

/**
 * Runs one call on `client`, at once or not at all: it fails while the client is not connected (a
 * MULTI would otherwise wait in node-redis's queue for the reconnection even without the offline
 * queue, and run late), and rejects when no answer came within `ms`.
 */
export function redisCall<T>(client: RedisClient, what: string, ms: number, run: () => Promise<T>): Promise<T> {
  if (!client.isReady) return Promise.reject(new RedisUnavailableError(`redis is not connected (${what})`));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`redis did not answer ${what} within ${ms} ms`)), ms);
  });
  const answered = run().catch((err: unknown) => {
    throw isConnectionError(err) ? new RedisUnavailableError(`redis failed ${what}: ${(err as Error).message}`, { cause: err }) : err;
  });
  return Promise.race([answered, late]).finally(() => clearTimeout(timer));
}

/**
 * `<prefix>fence:<lock key>`: the fencing token of the latest grant of a lock. The locker sets it
 * when it grants the lock (lock/redis.ts); the stores refuse a write under an older token
 * (store/redis.ts). It outlives the lease by a day, then goes, so no key is left per md5 ever locked.
 */
export function fenceKey(prefix: string, lockKey: string): string {
  return `${prefix}fence:${lockKey}`;
}

/** How long a lock's fence is kept after its grant (ms). */
export const FENCE_TTL_MS = 24 * 3600_000;
