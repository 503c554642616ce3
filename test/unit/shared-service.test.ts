/*
 * Two UploadService "nodes" over the same stores, bytes and locks (in memory, in one process), in
 * shared mode: what Redis mode relies on, without Redis. The e2e suites run the real thing.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { MIN_CHUNK_SIZE, type EndedEvent } from '../../src/protocol/index.js';
import { MemoryBytes } from '../../src/server/bytes/memory.js';
import { DEFAULTS } from '../../src/server/config/config.js';
import { fanOut } from '../../src/server/observe/events.js';
import { MemoryLocker } from '../../src/server/lock/memory.js';
import type { Lock, Locker } from '../../src/server/lock/types.js';
import { UploadService } from '../../src/server/upload/service.js';
import { MemoryStores } from '../../src/server/store/memory.js';

const CHUNK = MIN_CHUNK_SIZE;

/**
 * Locks of one process that a test can take away, as a Redis lease is lost when its holder stalls
 * past the ttl: the holder's signal aborts (and the lock stays queued, as the holder has yet to release).
 */
class LosableLocker implements Locker {
  readonly #inner = new MemoryLocker();
  readonly #held = new Set<AbortController>();

  async acquire(key: string, signal?: AbortSignal): Promise<Lock> {
    const lock = await this.#inner.acquire(key, signal);
    const lost = new AbortController();
    this.#held.add(lost);
    return { token: lock.token, signal: lost.signal, release: () => (this.#held.delete(lost), lock.release()) };
  }

  loseAll(): void {
    for (const lost of this.#held) lost.abort(Object.assign(new Error('lease lost'), { code: 'E_STORE_UNAVAILABLE' }));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

function cluster() {
  const stores = new MemoryStores();
  const bytes = new MemoryBytes();
  const locker = new LosableLocker();
  const ended: EndedEvent[] = [];
  const node = () => new UploadService({
    uploads: stores, files: stores, bytes, locker, severalNodes: true,
    events: fanOut({ ended: (e) => ended.push(e) }),
    config: { ...DEFAULTS, chunkSize: CHUNK, fsync: false },
  });
  return { stores, bytes, locker, ended, a: node(), b: node(), c: node() };
}

async function sendChunk(node: UploadService, md5: string, content: Buffer, index: number, total: number) {
  return node.chunk({ md5, index, total, offset: 0, data: content.subarray(index * CHUNK, (index + 1) * CHUNK) });
}

describe('shared mode: two nodes over one store', () => {
  it('a node answers init with the chunks another node stored, and merges them from a sealed copy', async () => {
    const { a, b, c, stores, bytes } = cluster();
    const content = randomBytes(4 * CHUNK);
    const md5 = createHash('md5').update(content).digest('hex');
    await Promise.all([a.open(), b.open()]);
    const request = { md5, size: content.length, name: 'x.bin', type: 'application/octet-stream' };
    expect((await a.init(request)).status).to.equal('partial');
    expect((await b.init(request)).status).to.equal('partial'); // b caches a session now
    expect((await c.init(request)).status).to.equal('partial'); // and so does c, which hears no more of it
    await sendChunk(a, md5, content, 0, 4);
    await sendChunk(a, md5, content, 1, 4);
    const resumed = await b.init(request);
    expect(resumed.status === 'partial' && resumed.missing).to.deep.equal([[2, 4]]);
    await sendChunk(b, md5, content, 2, 4);
    await sendChunk(b, md5, content, 3, 4);
    const merged = await a.merge(md5); // a's cache knew only chunks 0 and 1
    expect(merged.file.md5).to.equal(md5);
    expect(await stores.getUpload(md5)).to.equal(undefined);
    // a late frame on c, whose cached session is stale (it thinks chunk 0 missing), is written to a
    // temp file of its own, refused by the store, answered as harmless, and brings nothing back
    const late = await sendChunk(c, md5, content, 0, 4);
    expect(late).to.deep.include({ accepted: false, stored: true });
    expect(await stores.getUpload(md5)).to.equal(undefined);
    expect(await stores.receivedIndices(md5)).to.deep.equal([]);
    expect(await bytes.partial(md5).size(), 'the temp file the late write made is gone').to.equal(-1);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('two nodes racing to merge store the file once', async () => {
    const { a, b, stores } = cluster();
    const content = randomBytes(3 * CHUNK + 5);
    const md5 = createHash('md5').update(content).digest('hex');
    await a.init({ md5, size: content.length, name: 'x.bin', type: 'x/y' });
    for (let i = 0; i < 4; i++) await sendChunk(a, md5, content, i, 4);
    const [one, two] = await Promise.all([a.merge(md5), b.merge(md5)]);
    expect(one.file).to.deep.equal(two.file);
    const files = [];
    for await (const record of stores.listFiles()) files.push(record.md5);
    expect(files).to.deep.equal([md5]);
  });

  it('a merge whose lock is lost while it verifies stops: nothing stored, nothing recorded, the upload kept for the next merge', async () => {
    const { a, b, stores, bytes, locker } = cluster();
    const content = randomBytes(3 * CHUNK);
    const md5 = createHash('md5').update(content).digest('hex');
    await a.init({ md5, size: content.length, name: 'x.bin', type: 'x/y' });
    for (let i = 0; i < 3; i++) await sendChunk(a, md5, content, i, 3);
    // the sealed copy's first read waits until the lock is lost (a node that stalls mid-verification)
    const seal = bytes.seal.bind(bytes);
    bytes.seal = async (id: string, attempt: number) => {
      const copy = await seal(id, attempt);
      const read = copy.read.bind(copy);
      copy.read = async (position, length, into) => {
        locker.loseAll();
        return read(position, length, into);
      };
      return copy;
    };
    const lost = await a.merge(md5).then(() => undefined, (err: unknown) => err);
    expect((lost as { code?: string })?.code).to.equal('E_STORE_UNAVAILABLE');
    expect(await bytes.storedSize(md5)).to.equal(undefined);
    expect(await stores.getFile(md5)).to.equal(undefined);
    expect((await stores.getUpload(md5))?.verified).to.equal(undefined);
    bytes.seal = seal;
    expect((await b.merge(md5)).file.md5).to.equal(md5);
  });

  it('one node at a time sweeps: an expired upload ends once', async () => {
    const { a, b, stores, ended } = cluster();
    const content = randomBytes(2 * CHUNK);
    const md5 = createHash('md5').update(content).digest('hex');
    await a.init({ md5, size: content.length, name: 'x.bin', type: 'x/y' });
    await sendChunk(a, md5, content, 0, 2);
    const later = Date.now() + DEFAULTS.partialTtlMs + 1000;
    await Promise.all([a.sweep(later), b.sweep(later), a.sweep(later)]);
    expect(ended.filter((e) => e.md5 === md5)).to.deep.equal([{ id: md5, md5, reason: 'expired' }]);
    expect(await stores.getUpload(md5)).to.equal(undefined);
  });
});
