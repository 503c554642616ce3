import { createClient } from 'redis';
import { UploadGone, type FileEntry, type FileIndex, type FileRecord, type UploadMeta, type UploadStateStore } from './types.js';

/** KEYS: upload, chunks. ARGV: the meta's JSON, then the indices. 0 when the upload is not recorded. */
const RECORD_CHUNKS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 1 then redis.call('SADD', KEYS[2], unpack(ARGV, 2)) end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

/*
 * Upload state and the file index in Redis: the state several nodes share (issue 12).
 *
 * Keys, under a prefix (default `upwire:`, so deployments can share one Redis):
 *   <p>upload:<md5>      STRING  the UploadMeta, as JSON
 *   <p>chunks:<md5>      SET     the received chunk indices, in decimal (SADD of a re-sent chunk changes nothing)
 *   <p>uploads           SET     the md5s with an upload record: listUploads walks it with SSCAN, O(uploads),
 *                                never a SCAN of the whole keyspace
 *   <p>file:<md5>        STRING  the FileRecord, as JSON
 *   <p>files             SET     the md5s with a file record
 *   <p>entries:<owner>   HASH    field md5, value the FileEntry as JSON. The owner is the key's last part, so
 *                                no owner (any printable characters, ':' included) can share another's key
 *
 * Records are whole JSON strings, not hashes of fields: nested fields (metadata, uploaders) come back
 * exactly as written, and a record is replaced by one SET. A write that touches a record and its index
 * set is one MULTI/EXEC, and recordChunks one script (SADD of the indices with the SET of the meta, only
 * while the upload is recorded): Redis applies either whole, and writes it to the AOF whole, so after a
 * crash both or neither are there.
 *
 * Durability. Redis 7.0 (Debian bookworm) cannot be asked to fsync one write (WAITAOF came in 7.2), so
 * `sync` is not honoured per call: a write is durable when acknowledged only if the server runs with
 * `appendonly yes` and `appendfsync always` (it fsyncs the AOF before it sends the reply). With
 * `everysec`, a crash of redis-server alone loses nothing (the AOF was written), a power cut up to a
 * second of acknowledged chunks. open() reads both settings and sets `durable`; it warns, never refuses.
 * Replication is asynchronous: a failover to a replica (Sentinel) can lose acknowledged writes whatever
 * the AOF. Redis Cluster is not supported (a transaction here spans keys of several hash slots).
 *
 * Unreachable Redis. A call made while the client is reconnecting fails at once, and one not answered
 * within `timeoutMs` rejects: both with RedisUnavailableError, never a hung upload (the caller answers
 * a retryable E_INTERNAL). Nothing is queued to run after a reconnection, when its caller has given up.
 * connectRedis() makes the client this expects.
 */

/** The client this module works with: node-redis v5 with its default modules and RESP2. */
export type RedisClient = ReturnType<typeof createClient>;

/** A Redis call that could not be made (the client is reconnecting) or was not answered in time. */
export class RedisUnavailableError extends Error {
  readonly code = 'E_REDIS_UNAVAILABLE';

  constructor(message: string) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
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
  return Promise.race([run(), late]).finally(() => clearTimeout(timer));
}

export interface RedisStoresOptions {
  /** Prepended to every key (default `upwire:`). */
  prefix?: string;
  /** The longest any call may take before it rejects (ms, default 5000). */
  timeoutMs?: number;
  /** With a URL: connection errors while the client reconnects. */
  onError?: (err: Error) => void;
}

export class RedisStores implements UploadStateStore, FileIndex {
  readonly #source: RedisClient | string;
  #client: RedisClient | undefined;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #onError: ((err: Error) => void) | undefined;
  #durable = false;
  #durability = 'not checked yet';

  /** A connected client stays the caller's to close; with a URL, open() connects and close() closes. */
  constructor(client: RedisClient | string, { prefix = 'upwire:', timeoutMs = 5000, onError }: RedisStoresOptions = {}) {
    this.#source = client;
    if (typeof client !== 'string') this.#client = client;
    this.#prefix = prefix;
    this.#timeoutMs = timeoutMs;
    this.#onError = onError;
  }

  /** Connects (with a URL) and checks the server's persistence settings. */
  async open(): Promise<void> {
    if (typeof this.#source === 'string') this.#client = await connectRedis(this.#source, { onError: this.#onError });
    try {
      const config = await this.#call('CONFIG GET', (redis) => redis.configGet(['appendonly', 'appendfsync']));
      this.#durable = config.appendonly === 'yes' && config.appendfsync === 'always';
      this.#durability = this.#durable
        ? 'appendonly yes, appendfsync always: acknowledged chunks survive a crash and a power cut'
        : `appendonly ${config.appendonly}, appendfsync ${config.appendfsync}: acknowledged chunks can be lost in ` +
          `${config.appendonly === 'yes' ? 'a power cut or an OS crash' : 'a crash of redis-server'} (set appendonly yes and appendfsync always)`;
    } catch (err) {
      // Managed services often rename or forbid CONFIG: durability is then unknown, not refused.
      this.#durable = false;
      this.#durability = `cannot read the persistence settings (${(err as Error).message}): make sure of appendonly yes and appendfsync always`;
    }
  }

  /** Whether an acknowledged write survives a power cut: appendonly yes and appendfsync always (read by open()). */
  get durable(): boolean {
    return this.#durable;
  }

  /** What open() found about durability, for a log line (a warning when not durable). */
  get durability(): string {
    return this.#durability;
  }

  async close(): Promise<void> {
    if (typeof this.#source === 'string' && this.#client) await closeRedis(this.#client, this.#timeoutMs);
  }

  get #redis(): RedisClient {
    if (!this.#client) throw new Error('RedisStores: call open() first');
    return this.#client;
  }

  #call<T>(what: string, run: (redis: RedisClient) => Promise<T>): Promise<T> {
    const redis = this.#redis;
    return redisCall(redis, what, this.#timeoutMs, () => run(redis));
  }

  #key(kind: 'upload' | 'chunks' | 'file' | 'entries', id: string): string {
    return `${this.#prefix}${kind}:${id}`;
  }

  async getUpload(md5: string): Promise<UploadMeta | undefined> {
    return parse(await this.#call('GET', (redis) => redis.get(this.#key('upload', md5))));
  }

  async putUpload(meta: UploadMeta): Promise<void> {
    const multi = this.#redis.multi().set(this.#key('upload', meta.md5), JSON.stringify(meta)).sAdd(`${this.#prefix}uploads`, meta.md5);
    await this.#call('MULTI (put upload)', () => multi.exec());
  }

  listUploads(): AsyncIterable<UploadMeta> {
    return this.#records(`${this.#prefix}uploads`, 'upload');
  }

  async receivedIndices(md5: string): Promise<number[]> {
    const members = await this.#call('SMEMBERS', (redis) => redis.sMembers(this.#key('chunks', md5)));
    return members.map(Number).sort((a, b) => a - b);
  }

  /** `sync` is the server's (see the header): one transaction, fsynced before the reply under appendfsync always. */
  async recordChunks(meta: UploadMeta, indices: readonly number[], _sync: boolean): Promise<void> {
    // One script, run whole: the upload must still be recorded (another node may have merged or
    // forgotten it since this node loaded it), and a late chunk must not bring its record back.
    const keys = [this.#key('upload', meta.md5), this.#key('chunks', meta.md5)];
    const recorded = await this.#call('EVAL (record chunks)', (redis) => redis.eval(RECORD_CHUNKS, { keys, arguments: [JSON.stringify(meta), ...indices.map(String)] }));
    if (recorded !== 1) throw new UploadGone(meta.md5);
  }

  async clearChunks(md5: string): Promise<void> {
    await this.#call('DEL', (redis) => redis.del(this.#key('chunks', md5)));
  }

  /** Indices, meta and its place in the index set go in one transaction: never indices without meta. */
  async deleteUpload(md5: string): Promise<void> {
    const multi = this.#redis.multi().del(this.#key('chunks', md5)).del(this.#key('upload', md5)).sRem(`${this.#prefix}uploads`, md5);
    await this.#call('MULTI (delete upload)', () => multi.exec());
  }

  async getFile(md5: string): Promise<FileRecord | undefined> {
    return parse(await this.#call('GET', (redis) => redis.get(this.#key('file', md5))));
  }

  async putFile(record: FileRecord, _sync: boolean): Promise<void> {
    const multi = this.#redis.multi().set(this.#key('file', record.md5), JSON.stringify(record)).sAdd(`${this.#prefix}files`, record.md5);
    await this.#call('MULTI (put file)', () => multi.exec());
  }

  async deleteFile(md5: string): Promise<void> {
    const multi = this.#redis.multi().del(this.#key('file', md5)).sRem(`${this.#prefix}files`, md5);
    await this.#call('MULTI (delete file)', () => multi.exec());
  }

  listFiles(): AsyncIterable<FileRecord> {
    return this.#records(`${this.#prefix}files`, 'file');
  }

  async putEntry(entry: FileEntry, _sync: boolean): Promise<void> {
    await this.#call('HSET', (redis) => redis.hSet(this.#key('entries', entry.owner), entry.md5, JSON.stringify(entry)));
  }

  async getEntry(owner: string, md5: string): Promise<FileEntry | undefined> {
    return parse(await this.#call('HGET', (redis) => redis.hGet(this.#key('entries', owner), md5)));
  }

  async *listEntries(owner: string): AsyncIterable<FileEntry> {
    const values = await this.#call('HVALS', (redis) => redis.hVals(this.#key('entries', owner)));
    const entries = values.map((value) => JSON.parse(value) as FileEntry);
    yield* entries.sort((a, b) => (a.md5 < b.md5 ? -1 : 1));
  }

  /**
   * The records named in an index set, a page at a time (SSCAN, then one MGET per page). SSCAN may
   * name a member twice (while Redis rehashes the set), so members already seen are skipped; a
   * member whose record is gone (deleted meanwhile) is too.
   */
  async *#records<T>(index: string, kind: 'upload' | 'file'): AsyncIterable<T> {
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const page = await this.#call('SSCAN', (redis) => redis.sScan(index, cursor, { COUNT: 256 }));
      cursor = page.cursor;
      const fresh = page.members.filter((md5) => !seen.has(md5));
      if (fresh.length === 0) continue;
      for (const md5 of fresh) seen.add(md5);
      const values = await this.#call('MGET', (redis) => redis.mGet(fresh.map((md5) => this.#key(kind, md5))));
      for (const value of values) if (value !== null) yield JSON.parse(value) as T;
    } while (cursor !== '0');
  }
}

function parse<T>(value: string | null | undefined): T | undefined {
  return value === null || value === undefined ? undefined : (JSON.parse(value) as T);
}
