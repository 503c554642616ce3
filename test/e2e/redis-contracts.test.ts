/*
 * The Redis state store and locker against a real redis-server (test/support/redis.ts): the contract
 * suites every implementation passes, then what only several nodes and a remote server can do wrong:
 * two nodes on one key, a lease lost when Redis cannot be reached, a crash of Redis itself, and calls
 * that must fail in bounded time rather than hang while Redis is unreachable.
 */
import { expect } from 'chai';
import { LockLostError, RedisLocker } from '../../src/server/lock/redis.js';
import { closeRedis, connectRedis, RedisUnavailableError, type RedisClient } from '../../src/server/redis/client.js';
import { RedisStores } from '../../src/server/store/redis.js';
import { StaleFence, UploadGone } from '../../src/server/store/types.js';
import { lockerContract } from '../contract/locker.js';
import { meta, stateStoreContract } from '../contract/state-store.js';
import { eventually, skipWithout, sleep } from '../support/fixtures.js';
import { startProxy, type Proxy } from '../support/proxy.js';
import { redisUnavailable, startRedis, type RedisServer } from '../support/redis.js';

const nothing = async () => {};
const progress = (updatedAt: number) => ({ updatedAt, received: 0 });

/** How long a call took, and how it ended. */
async function timed(call: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = performance.now();
  const error = await call().then(() => undefined, (err: unknown) => err);
  return { ms: performance.now() - start, error };
}

describe('Redis state store and locker (a real redis-server)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let client: RedisClient;
  let tests = 0;
  /** Each test its own keys: the contract suites expect an empty store. */
  const prefix = () => `upwire-test-${++tests}:`;

  before(async function () {
    skipWithout(this, redisUnavailable());
    redis = await startRedis();
    client = await connectRedis(redis.url);
  });
  after(async () => {
    if (client?.isOpen) await client.close();
    await redis?.stop();
  });

  stateStoreContract('Redis', async () => {
    const stores = new RedisStores(client, { prefix: prefix() });
    await stores.open();
    return { uploads: stores, files: stores, cleanup: nothing };
  });

  it('indexes by md5, at open(), the entries written before that index existed (once)', async () => {
    const p = prefix();
    const md5 = 'a'.repeat(32);
    // As the version before delete wrote them: the entry hashes alone.
    for (const owner of ['alice', 'b:o*b']) await client.hSet(`${p}entries:${owner}`, md5, JSON.stringify({ owner, md5, name: 'x', type: 'x/y', createdAt: 1 }));
    const stores = new RedisStores(client, { prefix: p });
    await stores.open();
    expect(await stores.hasEntries(md5)).to.equal(true);
    await stores.deleteEntry('alice', md5, true);
    expect(await stores.hasEntries(md5), 'b:o*b is left').to.equal(true);
    await stores.deleteEntry('b:o*b', md5, true);
    expect(await stores.hasEntries(md5)).to.equal(false);
    await stores.open(); // marked done: the deleted entries do not come back
    expect(await stores.hasEntries(md5)).to.equal(false);
  });

  lockerContract('Redis (leases)', async () => ({ locker: new RedisLocker(client, { prefix: prefix() }), cleanup: nothing }));

  it('says the writes are durable under appendfsync always, and not under everysec', async () => {
    const stores = new RedisStores(client);
    await stores.open();
    expect(stores.durable, stores.durability).to.equal(true);
    await client.configSet('appendfsync', 'everysec');
    try {
      const loose = new RedisStores(client);
      await loose.open();
      expect(loose.durable).to.equal(false);
      expect(loose.durability).to.match(/appendfsync everysec/);
    } finally {
      await client.configSet('appendfsync', 'always');
    }
  });

  it('refuses chunks for an upload another node merged or forgot, without bringing its record back', async () => {
    const stores = new RedisStores(client, { prefix: prefix() });
    await stores.open();
    const gone = meta('b'.repeat(32));
    await stores.putUpload(gone);
    await stores.recordChunks(gone.id, [0], progress(2), true);
    await stores.deleteUpload(gone.id); // another node finished it
    const late = await stores.recordChunks(gone.id, [1], progress(3), true).then(() => undefined, (err: unknown) => err);
    expect(late).to.be.instanceOf(UploadGone);
    expect(await stores.getUpload(gone.md5)).to.equal(undefined);
    expect(await stores.receivedIndices(gone.md5)).to.deep.equal([]);
    const listed: string[] = [];
    for await (const m of stores.listUploads()) listed.push(m.md5);
    expect(listed).to.deep.equal([]);
  });

  it('opens from a URL, owns that connection, and closes it', async () => {
    const stores = new RedisStores(redis.url, { prefix: prefix() });
    await stores.open();
    await stores.putUpload(meta('a'.repeat(32)));
    expect((await stores.getUpload('a'.repeat(32)))?.md5).to.equal('a'.repeat(32));
    await stores.close();
    expect(client.isReady, 'a shared client is not closed').to.equal(true);
  });

  describe('two nodes (two connections)', () => {
    let other: RedisClient;
    beforeEach(async () => (other = await connectRedis(redis.url)));
    afterEach(() => other.close());

    it('exclude each other on one key, and the later grant carries the larger token', async () => {
      const keys = prefix();
      const [a, b] = [new RedisLocker(client, { prefix: keys }), new RedisLocker(other, { prefix: keys })];
      const held = await a.acquire('k');
      let granted = false;
      const waiting = b.acquire('k').then((lock) => ((granted = true), lock));
      await sleep(300);
      expect(granted, 'node B got a key node A holds').to.equal(false);
      await held.release();
      const lock = await waiting;
      expect(lock.token).to.be.greaterThan(held.token);
      await lock.release();
      await Promise.all([a.close(), b.close()]);
    });

    it('never overlap under contention', async () => {
      const keys = prefix();
      const nodes = [new RedisLocker(client, { prefix: keys }), new RedisLocker(other, { prefix: keys })];
      let inside = 0;
      let most = 0;
      const tokens: number[] = [];
      await Promise.all(nodes.flatMap((node) => [1, 2, 3, 4].map(async () => {
        for (let round = 0; round < 3; round++) {
          const lock = await node.acquire('k');
          most = Math.max(most, ++inside);
          tokens.push(lock.token);
          await sleep(5);
          inside--;
          await lock.release();
        }
      })));
      expect(most).to.equal(1);
      expect(tokens).to.deep.equal([...tokens].sort((x, y) => x - y)); // fencing: granted in increasing order
      await Promise.all(nodes.map((node) => node.close()));
    });

    it('a holder whose lease ran out cannot write once the other node has the lock (fencing), even before that one writes', async () => {
      const keys = prefix();
      const stores = new RedisStores(client, { prefix: keys });
      await stores.open();
      const [a, b] = [new RedisLocker(client, { prefix: keys, ttlMs: 1000 }), new RedisLocker(other, { prefix: keys, ttlMs: 1000 })];
      const stalled = await a.acquire('k');
      await client.del(`${keys}lock:k`); // its lease expired while it stalled (the node did not renew it)
      const next = await b.acquire('k');
      const md5 = 'a'.repeat(32);
      const upload = meta(md5);
      const stale = { key: 'k', token: stalled.token };
      const writes: [string, () => Promise<unknown>][] = [
        ['putUpload', () => stores.putUpload({ ...upload, completed: true }, stale)],
        ['clearChunks', () => stores.clearChunks(md5, stale)],
        ['deleteUpload', () => stores.deleteUpload(md5, stale)],
        ['putFile', () => stores.putFile({ md5, size: 1, name: 'x', type: 'x/y', createdAt: 1 }, true, stale)],
        ['deleteFile', () => stores.deleteFile(md5, stale)],
        ['putEntry', () => stores.putEntry({ owner: 'o', md5, name: 'x', type: 'x/y', createdAt: 1 }, true, stale)],
      ];
      await stores.putUpload(upload, { key: 'k', token: next.token });
      await stores.recordChunks(md5, [3], progress(4), true);
      await stores.putFile({ md5, size: 2, name: 'kept', type: 'x/y', createdAt: 2 }, true, { key: 'k', token: next.token });
      for (const [name, write] of writes) expect(await write().then(() => undefined, (err: unknown) => err), name).to.be.instanceOf(StaleFence);
      expect(await stores.getUpload(md5)).to.deep.equal({ ...upload, updatedAt: 4 });
      expect(await stores.receivedIndices(md5)).to.deep.equal([3]);
      expect((await stores.getFile(md5))?.name).to.equal('kept');
      expect(await stores.getEntry('o', md5)).to.equal(undefined);
      // the holder of the latest grant writes; a write under no lock is not fenced
      await stores.deleteUpload(md5, { key: 'k', token: next.token });
      expect(await stores.getUpload(md5)).to.equal(undefined);
      await next.release();
      await stalled.release();
      await Promise.all([a.close(), b.close()]);
    });
  });

  describe('a holder cut off from Redis', () => {
    let proxy: Proxy;
    let cutOff: RedisClient;
    let other: RedisClient;
    beforeEach(async () => {
      proxy = await startProxy(redis.url.replace('redis:', 'http:'));
      cutOff = await connectRedis(proxy.url.replace('http:', 'redis:'));
      other = await connectRedis(redis.url);
    });
    afterEach(async () => {
      await closeRedis(cutOff, 500); // black-holed, its replies never come: let go after 500 ms
      await other.close();
      await proxy.close();
    });

    it('keeps its lease by renewing it, then loses it: its signal aborts, and the next holder has a larger token', async () => {
      const keys = prefix();
      const ttlMs = 600;
      const [a, b] = [new RedisLocker(cutOff, { prefix: keys, ttlMs }), new RedisLocker(other, { prefix: keys, ttlMs })];
      const held = await a.acquire('k');
      const early = await b.acquire('k', AbortSignal.timeout(3 * ttlMs)).then(() => 'granted', () => 'refused');
      expect(early, 'renewal keeps the lease beyond its ttl').to.equal('refused');
      expect(held.signal.aborted).to.equal(false);

      proxy.blackhole();
      const cut = performance.now();
      const next = await b.acquire('k');
      const waited = performance.now() - cut;
      expect(held.signal.aborted, 'the holder knows before another node is granted the key').to.equal(true);
      expect(held.signal.reason).to.be.instanceOf(LockLostError);
      expect(waited).to.be.below(ttlMs + 1000);
      expect(next.token).to.be.greaterThan(held.token);
      await next.release();
      await held.release(); // late, and harmless
      await Promise.all([a.close(), b.close()]);
    });

    it('loses its lease at once when Redis says another holder has it', async () => {
      const keys = prefix();
      const held = await new RedisLocker(cutOff, { prefix: keys, ttlMs: 600 }).acquire('k');
      await other.set(`${keys}lock:k`, 'someone else'); // what an expiry and another grant leave behind
      await eventually(() => held.signal.aborted, 1000, 'the loss');
      expect((held.signal.reason as Error).message).to.match(/another holder/);
      await held.release();
      expect(await other.get(`${keys}lock:k`), 'a lost holder does not free the other\'s lease').to.equal('someone else');
    });

    it('rejects store calls within the timeout instead of hanging', async () => {
      const stores = new RedisStores(cutOff, { prefix: prefix(), timeoutMs: 500 });
      await stores.open();
      proxy.blackhole();
      for (const call of [() => stores.getUpload('a'.repeat(32)), () => stores.recordChunks('a'.repeat(32), [1], progress(2), true)]) {
        const { ms, error } = await timed(call);
        expect(error).to.be.instanceOf(RedisUnavailableError);
        expect(ms).to.be.within(450, 1500);
      }
    });
  });

  describe('redis-server crashing', () => {
    afterEach(async () => {
      if (!redis.pid) await redis.restart();
    });

    it('keeps acknowledged chunk indices through kill -9 and a restart (AOF, fsync always)', async () => {
      const stores = new RedisStores(client, { prefix: prefix() });
      await stores.open();
      const a = meta('a'.repeat(32));
      await stores.putUpload(a);
      await stores.recordChunks(a.id, [0, 4, 7], progress(9), true);
      await redis.kill9();

      const down = await timed(() => stores.recordChunks(a.id, [5], progress(10), true));
      expect(down.error, 'a call while Redis is down fails').to.be.instanceOf(Error);
      expect(down.ms, 'and fails fast').to.be.below(1000);

      await redis.restart();
      const indices = await eventually(() => stores.receivedIndices(a.md5).catch(() => undefined), 10_000, 'the client to reconnect');
      expect(indices).to.deep.equal([0, 4, 7]);
      expect((await stores.getUpload(a.md5))?.updatedAt).to.equal(9);
    });
  });
});
