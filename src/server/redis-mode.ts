/*
 * Redis mode (REDIS_URL): upload state, the file index and locks in one Redis that every node
 * shares, and socket.io's Redis adapter so that watchers on any node see every node's uploads.
 * Files live on storage the nodes share (UPLOAD_DIR on NFS, EFS, CephFS...). The Redis packages
 * are optional peers, imported only here and only in this mode.
 *
 * Adapter: @socket.io/redis-adapter (Redis pub/sub), not the streams adapter. Watch events are
 * ephemeral (a watcher that misses a progress event gets the next one 200 ms later, and a snapshot
 * when it watches again); the streams adapter's replay after a disconnection serves socket.io's
 * connection-state recovery, which upwire does not use, and would keep a stream of every event in Redis.
 */
import type { Server as IoServer } from 'socket.io';
import type { RedisLocker } from './lock/redis.js';
import type { Logger } from './observe/log.js';
import type { RedisClient } from './redis/client.js';
import type { RedisStores } from './store/redis.js';

export interface RedisState {
  stores: RedisStores;
  locker: RedisLocker;
  /** Gives a socket.io server the Redis adapter: broadcasts to rooms (watchers) reach every node. */
  adapt(io: IoServer): void;
  /** Frees held leases and closes the connections, in bounded time. */
  close(): Promise<void>;
}

/** Connects (a wrong URL or an unreachable Redis fails here, as a start error), checks persistence, and builds the shared pieces. */
export async function openRedisState(url: string, log: Logger): Promise<RedisState> {
  const [{ connectRedis, closeRedis }, { RedisStores }, { RedisLocker }, { createAdapter }] = await Promise.all([
    import('./redis/client.js'), import('./store/redis.js'), import('./lock/redis.js'), import('@socket.io/redis-adapter'),
  ]);
  // An unheard 'error' would crash the process; a Redis restart logs one line per reconnection attempt.
  const onError = (err: Error) => log.warn({ err: err.message }, 'redis connection error; reconnecting');
  const clients: RedisClient[] = [];
  const connect = async () => {
    const client = await connectRedis(url, { onError });
    clients.push(client);
    return client;
  };
  try {
    const client = await connect();
    const stores = new RedisStores(client);
    await stores.open();
    if (!stores.durable) log.warn(`redis persistence: ${stores.durability}`);
    const locker = new RedisLocker(client);
    // The adapter's publisher and subscriber are connections of their own (a subscriber can do nothing else).
    const [pub, sub] = await Promise.all([connect(), connect()]);
    // The adapter does not catch a failed publish, and with no offline queue every publish during
    // an outage fails: uncaught, that would end the process. A watch event lost then is harmless.
    const publish = pub.publish.bind(pub);
    Object.defineProperty(pub, 'publish', {
      value: (...args: Parameters<typeof publish>) => publish(...args).catch((err: Error) => {
        onError(err);
        return 0;
      }),
    });
    const adapter = createAdapter(pub, sub);
    return {
      stores,
      locker,
      adapt: (io) => void io.adapter(adapter),
      async close() {
        await locker.close();
        await Promise.all(clients.map((c) => closeRedis(c)));
      },
    };
  } catch (err) {
    await Promise.all(clients.map((c) => closeRedis(c)));
    throw err;
  }
}
