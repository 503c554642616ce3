import { randomBytes } from 'node:crypto';
import { connectRedis, closeRedis, fenceKey, redisCall, type RedisClient } from '../redis/client.js';
import {
  StaleFence, UploadGone,
  type Fence, type FileEntry, type FileIndex, type FileRecord, type UploadMeta, type UploadProgress, type UploadStateStore,
} from './types.js';

/*
 * Upload state and the file index in Redis: the state several nodes share.
 *
 * Keys, under a prefix (default `upwire:`, so deployments can share one Redis):
 *   <p>up:<id>           HASH    an upload: `meta` (the UploadMeta as JSON, but its progress), `state`
 *                                (receiving, verified or completed), and its progress `updatedAt`, `received`
 *   <p>parts:<id>        HASH    the received chunk indices, in decimal, each with its tag ('' for none: see
 *                                ByteStore's chunkDone; an object store's part ETag)
 *   <p>uploads           SET     the ids with an upload record: listUploads walks it with SSCAN, O(uploads),
 *                                never a SCAN of the whole keyspace
 *   <p>file:<md5>        STRING  the FileRecord, as JSON
 *   <p>files             SET     the md5s with a file record
 *   <p>entries:<owner>   HASH    field md5, value the FileEntry as JSON. The owner is the key's last part, so
 *                                no owner (any printable characters, ':' included) can share another's key
 *   <p>owners:<md5>      SET     the owners with an entry for md5 (written with each entry): whether a delete
 *                                leaves anyone's entry. Built at open() from the entries when <p>mark:owners is absent
 *   <p>fence:<lock key>  STRING  the token of the latest grant of a lock (see redis/client.ts)
 *   <p>secret:<name>     STRING  a key made once, in hex (secret())
 *
 * Records are whole JSON strings: nested fields (metadata, the uploader) come back exactly as
 * written. Every write is one script, which Redis applies whole and writes to the AOF whole, so
 * after a crash all of it or none is there:
 *   - recordChunks adds indices and raises the progress fields only while the upload's state is
 *     `receiving`, and touches no other field: a node's stale view of the record is never written
 *     back, and a late chunk cannot bring back an upload another node merged or forgot;
 *   - the writes made under a lock (an upload's record, a file's record and entries) carry the
 *     lock's fencing token, and are refused (StaleFence) when the lock was granted again since: a
 *     node whose lease ran out while it stalled cannot overwrite the next holder's work.
 *
 * Durability. Redis 7.0 (Debian bookworm) cannot be asked to fsync one write (WAITAOF came in 7.2), so
 * `sync` is not honoured per call: a write is durable when acknowledged only if the server runs with
 * `appendonly yes` and `appendfsync always` (it fsyncs the AOF before it sends the reply). With
 * `everysec`, a crash of redis-server alone loses nothing (the AOF was written), a power cut up to a
 * second of acknowledged chunks. open() reads both settings and sets `durable`; it warns, never refuses.
 * Replication is asynchronous: a failover to a replica (Sentinel) can lose acknowledged writes whatever
 * the AOF. Redis Cluster is not supported (a script here spans keys of several hash slots).
 *
 * Unreachable Redis. A call made while the client is reconnecting fails at once, and one not answered
 * within `timeoutMs` rejects: both with RedisUnavailableError, never a hung upload (the caller answers
 * a retryable error). Nothing is queued to run after a reconnection, when its caller has given up.
 * connectRedis() makes the client this expects.
 *
 * Records of the version before upload ids (`upload:<md5>` strings) are not read: partial uploads in
 * flight across that upgrade start over.
 */

/** Refuses (returns -1) a write whose token (ARGV[1], '' for none) is older than the lock's fence (the last KEYS). */
const FENCED = `local fence = KEYS[#KEYS]
if ARGV[1] ~= '' and tonumber(ARGV[1]) < tonumber(redis.call('GET', fence) or '0') then return -1 end
`;

/** KEYS: up, uploads, fence. ARGV: token, id, meta JSON, state, updatedAt, received. */
const PUT_UPLOAD = `${FENCED}redis.call('HSET', KEYS[1], 'meta', ARGV[3], 'state', ARGV[4], 'updatedAt', ARGV[5], 'received', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[2])
return 1`;

/** KEYS: up, parts. ARGV: updatedAt, received, then index and tag pairs. 0 when the upload is not receiving. */
const RECORD_CHUNKS = `if redis.call('HGET', KEYS[1], 'state') ~= 'receiving' then return 0 end
if #ARGV > 2 then redis.call('HSET', KEYS[2], unpack(ARGV, 3)) end
for i, field in ipairs({ 'updatedAt', 'received' }) do
  if tonumber(ARGV[i]) > tonumber(redis.call('HGET', KEYS[1], field) or '0') then redis.call('HSET', KEYS[1], field, ARGV[i]) end
end
return 1`;

/** KEYS: chunks, fence. ARGV: token. */
const CLEAR_CHUNKS = `${FENCED}redis.call('DEL', KEYS[1])
return 1`;

/** KEYS: chunks, up, uploads, fence. ARGV: token, id. */
const DELETE_UPLOAD = `${FENCED}redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1`;

/** KEYS: file, files, fence. ARGV: token, md5, record JSON. */
const PUT_FILE = `${FENCED}redis.call('SET', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
return 1`;

/** KEYS: file, files, fence. ARGV: token, md5. */
const DELETE_FILE = `${FENCED}redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1`;

/** KEYS: entries, owners, fence. ARGV: token, md5, entry JSON, owner. */
const PUT_ENTRY = `${FENCED}redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`;

/** KEYS: entries, owners, fence. ARGV: token, md5, owner. */
const DELETE_ENTRY = `${FENCED}redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
return 1`;

/** KEYS: secret. ARGV: a new key, kept only if none is there. Returns the one kept. */
const SECRET = `redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

export interface RedisStoresOptions {
  /** Prepended to every key (default `upwire:`); the locker's prefix must be the same (fences). */
  prefix?: string;
  /** The longest any call may take before it rejects (ms, default 5000). */
  timeoutMs?: number;
  /** With a URL: connection errors while the client reconnects. */
  onError?: (err: Error) => void;
}

type UploadState = 'receiving' | 'verified' | 'completed';

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
    await this.#indexOwners();
  }

  /**
   * Entries written before the owners sets existed join them, once: one SCAN of the entry hashes
   * (the mark is set last; nodes doing it at once add the same members). Nodes of an earlier
   * version write entries without it: upgrade every node before anyone deletes.
   */
  async #indexOwners(): Promise<void> {
    const mark = this.#key('mark', 'owners');
    if ((await this.#call('GET', (redis) => redis.get(mark))) !== null) return;
    const start = this.#key('entries', '');
    const match = `${start.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const page = await this.#call('SCAN', (redis) => redis.scan(cursor, { MATCH: match, COUNT: 256 }));
      cursor = page.cursor;
      for (const key of page.keys) {
        const owner = key.slice(start.length);
        const md5s = await this.#call('HKEYS', (redis) => redis.hKeys(key));
        for (const md5 of md5s) await this.#call('SADD', (redis) => redis.sAdd(this.#key('owners', md5), owner));
      }
    } while (cursor !== '0');
    await this.#call('SET', (redis) => redis.set(mark, '1'));
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

  #key(kind: 'up' | 'parts' | 'file' | 'entries' | 'owners' | 'mark' | 'secret', id: string): string {
    return `${this.#prefix}${kind}:${id}`;
  }

  /** Runs a script; a fenced one (its last key the fence, its first argument the token) throws StaleFence when refused. */
  async #script(what: string, script: string, keys: string[], args: string[], fence?: Fence): Promise<number> {
    const result = Number(await this.#call(`EVAL (${what})`, (redis) => redis.eval(script, { keys, arguments: args })));
    if (result === -1 && fence) throw new StaleFence(fence);
    return result;
  }

  /** The keys and first argument that fence a write: the lock's fence key, and its token ('' for none). */
  #fence(fence: Fence | undefined): { key: string; token: string } {
    return fence ? { key: fenceKey(this.#prefix, fence.key), token: String(fence.token) } : { key: fenceKey(this.#prefix, ''), token: '' };
  }

  async getUpload(id: string): Promise<UploadMeta | undefined> {
    return parseUpload(await this.#call('HGETALL', (redis) => redis.hGetAll(this.#key('up', id))));
  }

  async putUpload(meta: UploadMeta, fence?: Fence): Promise<void> {
    const { updatedAt, received = 0, ...rest } = meta;
    const state: UploadState = meta.completed ? 'completed' : meta.verified ? 'verified' : 'receiving';
    const f = this.#fence(fence);
    await this.#script('put upload', PUT_UPLOAD, [this.#key('up', meta.id), `${this.#prefix}uploads`, f.key],
      [f.token, meta.id, JSON.stringify(rest), state, String(updatedAt), String(received)], fence);
  }

  listUploads(): AsyncIterable<UploadMeta> {
    return this.#uploads();
  }

  async receivedIndices(id: string): Promise<number[]> {
    const indices = await this.#call('HKEYS', (redis) => redis.hKeys(this.#key('parts', id)));
    return indices.map(Number).sort((a, b) => a - b);
  }

  async chunkTags(id: string): Promise<Map<number, string>> {
    const all = await this.#call('HGETALL', (redis) => redis.hGetAll(this.#key('parts', id)));
    return new Map(Object.entries(all).filter(([, tag]) => tag !== '').map(([index, tag]) => [Number(index), tag]));
  }

  /** `sync` is the server's (see the header): one script, fsynced before the reply under appendfsync always. */
  async recordChunks(id: string, indices: readonly number[], { updatedAt, received }: UploadProgress, _sync: boolean, tags?: readonly (string | undefined)[]): Promise<void> {
    const pairs = indices.flatMap((index, i) => [String(index), tags?.[i] ?? '']);
    const recorded = await this.#script('record chunks', RECORD_CHUNKS, [this.#key('up', id), this.#key('parts', id)],
      [String(updatedAt), String(received), ...pairs]);
    if (recorded !== 1) throw new UploadGone(id);
  }

  async clearChunks(id: string, fence?: Fence): Promise<void> {
    const f = this.#fence(fence);
    await this.#script('clear chunks', CLEAR_CHUNKS, [this.#key('parts', id), f.key], [f.token], fence);
  }

  /** Indices, meta and its place in the index set go in one script: never indices without meta. */
  async deleteUpload(id: string, fence?: Fence): Promise<void> {
    const f = this.#fence(fence);
    await this.#script('delete upload', DELETE_UPLOAD, [this.#key('parts', id), this.#key('up', id), `${this.#prefix}uploads`, f.key], [f.token, id], fence);
  }

  async secret(name: string): Promise<Uint8Array> {
    const kept = await this.#call('EVAL (secret)', (redis) => redis.eval(SECRET, { keys: [this.#key('secret', name)], arguments: [randomBytes(32).toString('hex')] }));
    return Buffer.from(String(kept), 'hex');
  }

  async getFile(md5: string): Promise<FileRecord | undefined> {
    return parse(await this.#call('GET', (redis) => redis.get(this.#key('file', md5))));
  }

  async putFile(record: FileRecord, _sync: boolean, fence?: Fence): Promise<void> {
    const f = this.#fence(fence);
    await this.#script('put file', PUT_FILE, [this.#key('file', record.md5), `${this.#prefix}files`, f.key], [f.token, record.md5, JSON.stringify(record)], fence);
  }

  async deleteFile(md5: string, fence?: Fence): Promise<void> {
    const f = this.#fence(fence);
    await this.#script('delete file', DELETE_FILE, [this.#key('file', md5), `${this.#prefix}files`, f.key], [f.token, md5], fence);
  }

  listFiles(): AsyncIterable<FileRecord> {
    return this.#files();
  }

  async putEntry(entry: FileEntry, _sync: boolean, fence?: Fence): Promise<void> {
    const f = this.#fence(fence);
    await this.#script('put entry', PUT_ENTRY, [this.#key('entries', entry.owner), this.#key('owners', entry.md5), f.key],
      [f.token, entry.md5, JSON.stringify(entry), entry.owner], fence);
  }

  async deleteEntry(owner: string, md5: string, _sync: boolean, fence?: Fence): Promise<void> {
    const f = this.#fence(fence);
    await this.#script('delete entry', DELETE_ENTRY, [this.#key('entries', owner), this.#key('owners', md5), f.key], [f.token, md5, owner], fence);
  }

  async hasEntries(md5: string): Promise<boolean> {
    return (await this.#call('SCARD', (redis) => redis.sCard(this.#key('owners', md5)))) > 0;
  }

  async getEntry(owner: string, md5: string): Promise<FileEntry | undefined> {
    return parse(await this.#call('HGET', (redis) => redis.hGet(this.#key('entries', owner), md5)));
  }

  async *listEntries(owner: string): AsyncIterable<FileEntry> {
    const values = await this.#call('HVALS', (redis) => redis.hVals(this.#key('entries', owner)));
    const entries = values.map((value) => JSON.parse(value) as FileEntry);
    yield* entries.sort((a, b) => (a.md5 < b.md5 ? -1 : 1));
  }

  async *#files(): AsyncIterable<FileRecord> {
    for await (const page of this.#pages(`${this.#prefix}files`)) {
      const values = await this.#call('MGET', (redis) => redis.mGet(page.map((md5) => this.#key('file', md5))));
      for (const value of values) if (value !== null) yield JSON.parse(value) as FileRecord;
    }
  }

  async *#uploads(): AsyncIterable<UploadMeta> {
    for await (const page of this.#pages(`${this.#prefix}uploads`)) {
      const multi = this.#redis.multi();
      for (const id of page) multi.hGetAll(this.#key('up', id));
      const records = (await this.#call('MULTI (HGETALL)', () => multi.exec())) as unknown as Record<string, string>[];
      for (const record of records) {
        const meta = parseUpload(record);
        if (meta) yield meta;
      }
    }
  }

  /**
   * The members of an index set, a page at a time (SSCAN). SSCAN may name a member twice (while
   * Redis rehashes the set): members already seen are skipped. A member whose record is gone
   * (deleted meanwhile) is skipped by the caller.
   */
  async *#pages(index: string): AsyncIterable<string[]> {
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const page = await this.#call('SSCAN', (redis) => redis.sScan(index, cursor, { COUNT: 256 }));
      cursor = page.cursor;
      const fresh = page.members.filter((member) => !seen.has(member));
      for (const member of fresh) seen.add(member);
      if (fresh.length > 0) yield fresh;
    } while (cursor !== '0');
  }
}

/** An upload's hash as stored: its meta JSON with its progress fields; undefined when there is none. */
function parseUpload(hash: Record<string, string> | null | undefined): UploadMeta | undefined {
  if (!hash || hash.meta === undefined) return undefined;
  const meta = JSON.parse(hash.meta) as UploadMeta;
  return { ...meta, updatedAt: Number(hash.updatedAt), received: Number(hash.received) };
}

function parse<T>(value: string | null | undefined): T | undefined {
  return value === null || value === undefined ? undefined : (JSON.parse(value) as T);
}
