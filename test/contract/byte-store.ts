import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { ByteStore, PartialBytes } from '../../src/server/bytes/types.js';

const MD5 = 'aa'.repeat(16);
const OTHER = 'bb'.repeat(16);
const ID_A = `${MD5}-${'1'.repeat(32)}`;
const ID_B = `${MD5}-${'2'.repeat(32)}`;

async function readAll(store: ByteStore, md5: string, start: number, end: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of store.readStored(md5, start, end) as AsyncIterable<Buffer>) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/**
 * An upload's bytes as the session writes them: chunks of `chunkSize` (any order), each in frames
 * from its offset 0 in order, `chunkDone` once a chunk is whole, its tag kept; the merge seals
 * (when the store cannot read back, or `sealed`) and commits.
 */
class Upload {
  readonly tags = new Map<number, string>();
  readonly partial: PartialBytes;

  private constructor(readonly store: ByteStore, readonly id: string, readonly chunkSize: number, readonly handle: string | undefined) {
    this.partial = store.partial(id, handle);
  }

  static async begin(store: ByteStore, id: string, size: number, chunkSize: number): Promise<Upload> {
    return new Upload(store, id, chunkSize, await store.begin?.(id, { size, chunkSize }));
  }

  async chunk(index: number, data: Buffer, frame = 64 * 1024): Promise<void> {
    const start = index * this.chunkSize;
    const bytes = data.subarray(start, Math.min(data.length, start + this.chunkSize));
    // An empty file has no chunk: its empty bytes are made at once (as the session does at creation).
    if (bytes.length === 0) return this.partial.write(start, bytes);
    for (let offset = 0; offset < bytes.length; offset += frame) await this.partial.write(start + offset, bytes.subarray(offset, offset + frame));
    const tag = await this.partial.chunkDone?.(index, start, bytes.length);
    if (tag !== undefined) this.tags.set(index, tag);
  }

  async all(data: Buffer, order?: number[]): Promise<void> {
    const total = Math.max(1, Math.ceil(data.length / this.chunkSize));
    for (const index of order ?? Array.from({ length: total }, (_, i) => i)) await this.chunk(index, data);
  }

  /** Seals (attempt `attempt`) when the store must or `sealed` asks, then commits. */
  async storeAs(md5: string, { sealed = false, attempt = 1 } = {}): Promise<'stored' | 'exists'> {
    const seal = sealed || !this.store.capabilities.readBack;
    if (seal) await (await this.store.seal!(this.id, attempt, true, { ...(this.handle ? { handle: this.handle } : {}), tags: this.tags })).release();
    return this.store.commit(this.id, md5, { ...(seal ? { attempt } : {}), durable: true });
  }
}

export interface ByteStoreFixture {
  store: ByteStore;
  /** The chunk size the tests use: the store's minimum part size, or more. */
  chunkSize: number;
  cleanup(): Promise<void>;
}

/** What every ByteStore must do; each implementation runs this suite (see test/unit/contracts.test.ts). */
export function byteStoreContract(name: string, create: () => Promise<ByteStoreFixture>): void {
  describe(`ByteStore contract: ${name}`, function () {
    this.timeout(60_000);
    let store: ByteStore;
    let chunkSize: number;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, chunkSize, cleanup } = await create());
      await store.open();
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });
    const begin = (id: string, size: number) => Upload.begin(store, id, size, chunkSize);

    it('states sane capabilities, and can seal if it cannot read back', () => {
      const c = store.capabilities;
      expect(c.minPartSize).to.be.at.least(1);
      expect(c.maxPartSize).to.be.at.least(c.minPartSize);
      expect(c.maxParts).to.be.at.least(1);
      expect(chunkSize).to.be.within(c.minPartSize, c.maxPartSize);
      if (!c.readBack) expect(store.seal, 'a store that cannot read back seals').to.be.a('function');
    });

    it('stores chunks written in any order, frame by frame, as the file: ranged reads work, the partial is gone', async () => {
      const data = randomBytes(3 * chunkSize + 1000);
      const upload = await begin(MD5, data.length);
      await upload.all(data, [2, 0, 3, 1]);
      if (store.capabilities.readBack) {
        expect(await upload.partial.size()).to.equal(data.length);
        const back = await upload.partial.read(chunkSize - 10, 20, new Uint8Array(20));
        expect(Buffer.from(back).equals(data.subarray(chunkSize - 10, chunkSize + 10))).to.equal(true);
      }
      expect(await store.storedSize(MD5)).to.equal(undefined);
      expect(await upload.storeAs(MD5)).to.equal('stored');
      expect(await store.storedSize(MD5)).to.equal(data.length);
      expect((await readAll(store, MD5, 0, data.length - 1)).equals(data)).to.equal(true);
      expect((await readAll(store, MD5, 1000, 1999)).equals(data.subarray(1000, 2000))).to.equal(true);
      if (store.capabilities.readBack) expect(await store.partial(MD5, upload.handle).size()).to.equal(-1);
    });

    it('keeps what a chunk started over holds: the second sender\'s bytes, not the first\'s', async () => {
      const data = randomBytes(2 * chunkSize);
      const upload = await begin(MD5, data.length);
      await upload.partial.write(0, randomBytes(100_000)); // a first sender's frames of chunk 0, abandoned
      await upload.all(data);
      await upload.storeAs(MD5);
      expect((await readAll(store, MD5, 0, data.length - 1)).equals(data)).to.equal(true);
    });

    it('keeps the bytes across a release, and writes again after it', async () => {
      const data = randomBytes(2 * chunkSize);
      const upload = await begin(MD5, data.length);
      await upload.chunk(0, data);
      await upload.partial.release();
      await upload.chunk(1, data);
      await upload.partial.release();
      await upload.storeAs(MD5);
      expect((await readAll(store, MD5, 0, data.length - 1)).equals(data)).to.equal(true);
    });

    it('refuses a short read rather than return zeros', async function () {
      if (!store.capabilities.readBack) return this.skip();
      const upload = await begin(MD5, 10);
      await upload.partial.write(0, Buffer.alloc(10, 1));
      const outcome = await upload.partial.read(5, 10, new Uint8Array(10)).then(() => 'read', () => 'refused');
      expect(outcome).to.equal('refused');
    });

    it('stores an empty file', async () => {
      const upload = await begin(MD5, 0);
      await upload.chunk(0, Buffer.alloc(0));
      await upload.storeAs(MD5);
      expect(await store.storedSize(MD5)).to.equal(0);
    });

    it('keeps uploads apart by id: two uploads of one md5 (two principals) have bytes of their own', async () => {
      const [a, b] = [randomBytes(chunkSize + 5), randomBytes(chunkSize + 7)];
      const [upA, upB] = [await begin(ID_A, a.length), await begin(ID_B, b.length)];
      await upA.all(a);
      await upB.all(b);
      await store.removePartial(ID_A, upA.handle);
      await upB.storeAs(OTHER);
      expect((await readAll(store, OTHER, 0, b.length - 1)).equals(b)).to.equal(true);
    });

    it('never replaces a stored file: a second upload of the same md5 answers exists, and is dropped', async () => {
      const first = randomBytes(chunkSize + 11);
      const [upA, upB] = [await begin(ID_A, first.length), await begin(ID_B, first.length)];
      await upA.all(first);
      await upB.all(randomBytes(first.length));
      expect(await upA.storeAs(MD5)).to.equal('stored');
      expect(await upB.storeAs(MD5, { attempt: 2 })).to.equal('exists');
      expect((await readAll(store, MD5, 0, first.length - 1)).equals(first)).to.equal(true);
    });

    it('removes partial bytes (twice is harmless), and stored bytes', async () => {
      const data = randomBytes(chunkSize);
      const upload = await begin(MD5, data.length);
      await upload.all(data);
      await store.removePartial(MD5, upload.handle);
      await store.removePartial(MD5, upload.handle);
      const again = await begin(MD5, data.length);
      await again.all(data);
      await again.storeAs(OTHER);
      await store.removeStored(OTHER);
      expect(await store.storedSize(OTHER)).to.equal(undefined);
    });

    it('seals: the copy keeps the bytes of the moment, later writes do not reach it, commit stores that copy and never the partial', async function () {
      if (!store.seal) return this.skip(); // only a store meant for several nodes, or that cannot read back, seals
      const data = randomBytes(2 * chunkSize);
      const upload = await begin(MD5, data.length);
      await upload.all(data);
      const sealed = await store.seal(MD5, 7, true, { ...(upload.handle ? { handle: upload.handle } : {}), tags: upload.tags });
      // a node that still held the upload writes to it after the seal
      await upload.partial.write(0, randomBytes(1000)).catch(() => {});
      expect(await sealed.size()).to.equal(data.length);
      expect(Buffer.from(await sealed.read(chunkSize - 100, 200, new Uint8Array(200))).equals(data.subarray(chunkSize - 100, chunkSize + 100))).to.equal(true);
      await sealed.release();
      await store.commit(MD5, MD5, { attempt: 7, durable: true });
      expect((await readAll(store, MD5, 0, data.length - 1)).equals(data)).to.equal(true);
    });

    it('never commits the partial bytes for an attempt whose sealed copy is gone', async function () {
      if (!store.seal) return this.skip();
      const data = randomBytes(chunkSize);
      const upload = await begin(MD5, data.length);
      await upload.all(data);
      await store.removePartial(MD5, upload.handle);
      const outcome = await store.commit(MD5, OTHER, { attempt: 9, durable: true }).then(() => 'stored', () => 'refused');
      expect(outcome).to.equal('refused');
      expect(await store.storedSize(OTHER)).to.equal(undefined);
    });

    it('keeps one sealed copy per upload: a new attempt removes the earlier ones (a store that reads back)', async function () {
      if (!store.seal || !store.capabilities.readBack) return this.skip();
      const first = randomBytes(chunkSize);
      const upload = await begin(MD5, first.length);
      await upload.all(first);
      await (await store.seal(MD5, 1, false)).release();
      await upload.all(randomBytes(first.length));
      await (await store.seal(MD5, 2, false)).release();
      expect(await store.commit(MD5, OTHER, { attempt: 1, durable: false }).then(() => 'stored', () => 'refused'), 'the earlier copy').to.equal('refused');
      expect(await store.commit(MD5, OTHER, { attempt: 2, durable: false })).to.equal('stored');
    });

    it('reports free space', async () => {
      expect(await store.freeBytes()).to.be.a('number').and.to.be.at.least(0);
    });
  });
}
