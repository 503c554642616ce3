import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpwireError } from '../../protocol/index.js';
import { StoreUnavailable } from '../model/errors.js';
import { FENCE_TTL_MS, fenceKey, redisCall, type RedisClient } from '../redis/client.js';
import type { Lock, Locker } from './types.js';

/*
 * Locks across nodes: a lease per key in Redis.
 *
 * Keys, under a prefix (default `upwire:`):
 *   <p>lock:<key>  STRING  the holder's random id, expiring after the ttl: the lease
 *   <p>fence       STRING  a counter incremented at every grant: the fencing token. One counter for
 *                          all keys: the tokens of one key still grow with every grant.
 *   <p>fence:<key> STRING  the token of the key's latest grant, set by the grant itself: the state
 *                          store refuses a write made under an older token (store/redis.ts), so a
 *                          holder whose lease ran out cannot write once another holder has the key,
 *                          even before that one writes anything. Kept a day after the grant.
 *
 * Every step is a small Lua script, so it is atomic in Redis: acquire sets the lease if the key is free
 * (SET NX PX) and returns the next token; renewal extends the lease only if it is still ours
 * (compare-and-pexpire); release deletes it only if it is still ours (compare-and-delete). A holder
 * whose lease expired never extends or frees the next one's. An acquire whose answer was lost (a
 * timeout) may leave a lease nobody renews: it blocks the key for one ttl, no longer.
 *
 * Waiting: the waiters of one key in this process queue here, first come first served, and only the
 * first of them polls Redis, with a jittered backoff from 10 ms to 250 ms. Across nodes the lease goes
 * to whoever polls first after a release, not strictly in order of asking.
 *
 * Loss: the lease is renewed every ttl/3. The holder knows it is valid until the send time of its last
 * successful renewal plus the ttl; if no renewal succeeds by a tenth of the ttl before that (Redis
 * unreachable), or Redis says the lease is no longer ours, `lock.signal` aborts with a LockLostError:
 * the holder must stop doing what the lock protects, and still call release().
 *
 * A Redis error while acquiring rejects (the caller answers a retryable error) rather than waiting out
 * an outage; release never rejects: a lease it could not delete expires within the ttl.
 */

const ACQUIRE = `if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[3], token, 'PX', ARGV[3])
return token`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Why `lock.signal` aborted: the lease could not be renewed in time, or another holder has it. Retryable. */
export class LockLostError extends StoreUnavailable {
  override name = 'LockLostError';

  constructor(key: string, why: string) {
    super(`lost the lock on ${key}: ${why}`);
  }
}

export interface RedisLockerOptions {
  /** Prepended to every key (default `upwire:`). */
  prefix?: string;
  /** How long a lease lives without renewal (ms, default 10 000): how long a dead node's locks block others. */
  ttlMs?: number;
  /** The longest one Redis call may take (ms, default 5000). */
  timeoutMs?: number;
}

interface Waiter { go(): void; fail(err: Error): void }
interface Queue { busy: boolean; waiting: Waiter[] }

/** Locks shared by every node using the same Redis and prefix. The client stays the caller's to close. */
export class RedisLocker implements Locker {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  readonly #queues = new Map<string, Queue>();
  readonly #held = new Set<RedisLock>();
  #closed = false;

  constructor(client: RedisClient, { prefix = 'upwire:', ttlMs = 10_000, timeoutMs = 5000 }: RedisLockerOptions = {}) {
    this.#client = client;
    this.#prefix = prefix;
    this.#ttlMs = ttlMs;
    this.#timeoutMs = timeoutMs;
  }

  async acquire(key: string, signal?: AbortSignal): Promise<Lock> {
    if (signal?.aborted || this.#closed) throw aborted();
    await this.#turn(key, signal);
    try {
      return await this.#lease(key, signal);
    } catch (err) {
      this.#next(key);
      throw err;
    }
  }

  /**
   * Turns away whoever waits, stops renewing, and frees what is still held (a lease it cannot free
   * expires within the ttl).
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#queues.values()) for (const waiter of queue.waiting.splice(0)) waiter.fail(aborted());
    await Promise.all([...this.#held].map((lock) => lock.drop()));
  }

  /** Polls Redis until the lease is ours, the signal aborts or Redis fails. */
  async #lease(key: string, signal?: AbortSignal): Promise<Lock> {
    const id = randomUUID();
    const lease = `${this.#prefix}lock:${key}`;
    for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
      if (signal?.aborted || this.#closed) throw aborted();
      const sentAt = performance.now();
      const keys = [lease, `${this.#prefix}fence`, fenceKey(this.#prefix, key)];
      const token = Number(await this.#eval('acquire', ACQUIRE, keys, [id, String(this.#ttlMs), String(FENCE_TTL_MS)]));
      if (token > 0) {
        const lock = new RedisLock(this.#leaseDeps(key, lease, id), token, sentAt);
        if (!signal?.aborted && !this.#closed) return lock;
        await lock.drop(); // acquire() hands the turn on
        throw aborted();
      }
      await sleep(delay * (0.5 + Math.random()), undefined, { signal }).catch(() => {});
    }
  }

  #leaseDeps(key: string, lease: string, id: string): LeaseDeps {
    return {
      key,
      ttlMs: this.#ttlMs,
      renew: () => this.#eval('renew', RENEW, [lease], [id, String(this.#ttlMs)], Math.min(this.#timeoutMs, this.#ttlMs / 3)),
      free: () => this.#eval('release', RELEASE, [lease], [id], Math.min(this.#timeoutMs, this.#ttlMs / 3)),
      held: (lock, holding) => (holding ? this.#held.add(lock) : this.#held.delete(lock)),
      next: () => this.#next(key),
    };
  }

  #eval(what: string, script: string, keys: string[], args: string[], ms = this.#timeoutMs): Promise<unknown> {
    return redisCall(this.#client, `${what} of a lock`, ms, () => this.#client.eval(script, { keys, arguments: args }));
  }

  /** Resolves when this waiter is first in this process's queue for `key`. */
  #turn(key: string, signal?: AbortSignal): Promise<void> {
    const queue = this.#queues.get(key) ?? { busy: false, waiting: [] };
    this.#queues.set(key, queue);
    if (!queue.busy) {
      queue.busy = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        queue.waiting.splice(queue.waiting.indexOf(waiter), 1);
        reject(aborted());
      };
      queue.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #next(key: string): void {
    const queue = this.#queues.get(key);
    const next = queue?.waiting.shift();
    if (next) return next.go();
    this.#queues.delete(key);
  }
}

interface LeaseDeps {
  key: string;
  ttlMs: number;
  renew(): Promise<unknown>;
  free(): Promise<unknown>;
  held(lock: RedisLock, holding: boolean): void;
  next(): void;
}

/** A granted lease: renewed until released, lost (its signal aborts) when it cannot be. */
class RedisLock implements Lock {
  readonly token: number;
  readonly #deps: LeaseDeps;
  readonly #lost = new AbortController();
  #renewal: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;
  #released = false;

  constructor(deps: LeaseDeps, token: number, sentAt: number) {
    this.#deps = deps;
    this.token = token;
    deps.held(this, true);
    this.#extended(sentAt);
    this.#renewIn(deps.ttlMs / 3);
  }

  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    await this.drop();
    this.#deps.next();
  }

  /**
   * Stops renewing and frees the lease, without handing the turn on (the locker is closing). A lost
   * lease is not freed: it is another's, or expires within a tenth of the ttl.
   */
  async drop(): Promise<void> {
    if (this.#released) return;
    const lost = this.#lost.signal.aborted;
    this.#released = true;
    this.#stop();
    this.#deps.held(this, false);
    if (!lost) await this.#deps.free().catch(() => {});
  }

  /** The lease is valid until `sentAt + ttl` (Redis applied the command after it was sent). */
  #extended(sentAt: number): void {
    clearTimeout(this.#expiry);
    const margin = this.#deps.ttlMs / 10; // for clock drift and the commands still in flight
    const left = sentAt + this.#deps.ttlMs - margin - performance.now();
    this.#expiry = setTimeout(() => this.#lose('it could not be renewed in time (is Redis reachable?)'), left);
    this.#expiry.unref();
  }

  #renewIn(ms: number): void {
    this.#renewal = setTimeout(() => void this.#renew(), ms);
    this.#renewal.unref();
  }

  async #renew(): Promise<void> {
    const sentAt = performance.now();
    let ok: boolean;
    try {
      ok = Number(await this.#deps.renew()) === 1;
    } catch {
      // Redis unreachable: try again soon; the expiry timer says when it is too late.
      if (!this.#done) this.#renewIn(this.#deps.ttlMs / 10);
      return;
    }
    if (this.#done) return;
    if (!ok) return this.#lose('the lease expired, and another holder may have it');
    this.#extended(sentAt);
    this.#renewIn(this.#deps.ttlMs / 3);
  }

  get #done(): boolean {
    return this.#released || this.#lost.signal.aborted;
  }

  #lose(why: string): void {
    if (this.#done) return;
    this.#stop();
    this.#lost.abort(new LockLostError(this.#deps.key, why));
  }

  #stop(): void {
    clearTimeout(this.#renewal);
    clearTimeout(this.#expiry);
  }
}

function aborted(): UpwireError {
  return new UpwireError('E_ABORTED', 'gave up waiting for a lock');
}
