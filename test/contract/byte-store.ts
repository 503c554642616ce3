import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { ByteStore } from '../../src/server/bytes/types.js';

const MD5 = 'aa'.repeat(16);
const OTHER = 'bb'.repeat(16);

async function readAll(store: ByteStore, md5: string, start: number, end: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of store.readStored(md5, start, end) as AsyncIterable<Buffer>) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/** What every ByteStore must do; each implementation runs this suite (see test/unit/contracts.test.ts). */
export function byteStoreContract(name: string, create: () => Promise<{ store: ByteStore; cleanup(): Promise<void> }>): void {
  describe(`ByteStore contract: ${name}`, () => {
    let store: ByteStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await create());
      await store.open();
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('states sane capabilities', () => {
      const c = store.capabilities;
      expect(c.minPartSize).to.be.at.least(1);
      expect(c.maxPartSize).to.be.at.least(c.minPartSize);
      expect(c.maxParts).to.be.at.least(1);
    });

    it('writes at any position in any order, reads back exactly, and reports the size', async () => {
      const data = randomBytes(300_000);
      const partial = store.partial(MD5);
      expect(await partial.size()).to.equal(-1);
      await partial.write(200_000, data.subarray(200_000));
      await partial.write(0, data.subarray(0, 100_000));
      await partial.write(100_000, data.subarray(100_000, 200_000));
      await partial.flush();
      expect(await partial.size()).to.equal(data.length);
      if (store.capabilities.readBack) {
        const back = await partial.read(50_000, 200_000, new Uint8Array(200_000));
        expect(Buffer.from(back).equals(data.subarray(50_000, 250_000))).to.equal(true);
      }
    });

    it('keeps the bytes across a release, and writes again after it', async () => {
      const partial = store.partial(MD5);
      await partial.write(0, Buffer.from('hello '));
      await partial.release();
      await partial.write(6, Buffer.from('world'));
      await partial.release();
      await store.commit(MD5, MD5, { durable: true });
      expect((await readAll(store, MD5, 0, 10)).toString()).to.equal('hello world');
    });

    it('refuses a short read rather than return zeros', async () => {
      if (!store.capabilities.readBack) return;
      const partial = store.partial(MD5);
      await partial.write(0, Buffer.alloc(10, 1));
      const outcome = await partial.read(5, 10, new Uint8Array(10)).then(() => 'read', () => 'refused');
      expect(outcome).to.equal('refused');
    });

    it('commits atomically: the stored file appears whole, ranged reads work, the partial is gone', async () => {
      const data = randomBytes(70_000);
      await store.partial(MD5).write(0, data);
      expect(await store.storedSize(MD5)).to.equal(undefined);
      expect(await store.commit(MD5, MD5, { durable: false })).to.equal('stored');
      expect(await store.storedSize(MD5)).to.equal(data.length);
      expect((await readAll(store, MD5, 0, data.length - 1)).equals(data)).to.equal(true);
      expect((await readAll(store, MD5, 1000, 1999)).equals(data.subarray(1000, 2000))).to.equal(true);
      expect(await store.partial(MD5).size()).to.equal(-1);
    });

    it('commits an empty file', async () => {
      await store.partial(MD5).write(0, new Uint8Array(0));
      await store.commit(MD5, MD5, { durable: true });
      expect(await store.storedSize(MD5)).to.equal(0);
    });

    it('keeps uploads apart, and removes partial and stored bytes', async () => {
      await store.partial(MD5).write(0, Buffer.from('one'));
      await store.partial(OTHER).write(0, Buffer.from('other'));
      await store.removePartial(MD5);
      expect(await store.partial(MD5).size()).to.equal(-1);
      expect(await store.partial(OTHER).size()).to.equal(5);
      await store.commit(OTHER, OTHER, { durable: false });
      await store.removeStored(OTHER);
      expect(await store.storedSize(OTHER)).to.equal(undefined);
      await store.removePartial(MD5); // twice is harmless
    });

    it('keeps uploads apart by id: two uploads of one md5 (two principals) have partial bytes of their own', async () => {
      const [a, b] = [`${MD5}-${'1'.repeat(32)}`, `${MD5}-${'2'.repeat(32)}`];
      await store.partial(a).write(0, Buffer.from('from a'));
      await store.partial(b).write(0, Buffer.from('from b, longer'));
      expect(await store.partial(a).size()).to.equal(6);
      expect(await store.partial(MD5).size()).to.equal(-1);
      await store.removePartial(a);
      expect(await store.partial(b).size()).to.equal(14);
    });

    it('never replaces a stored file: a second commit of the same md5 answers exists and drops its source', async () => {
      const first = randomBytes(5000);
      const [a, b] = [`${MD5}-${'1'.repeat(32)}`, `${MD5}-${'2'.repeat(32)}`];
      await store.partial(a).write(0, first);
      await store.partial(b).write(0, randomBytes(3000));
      expect(await store.commit(a, MD5, { durable: true })).to.equal('stored');
      expect(await store.commit(b, MD5, { durable: true })).to.equal('exists');
      expect((await readAll(store, MD5, 0, first.length - 1)).equals(first)).to.equal(true);
      expect(await store.partial(b).size()).to.equal(-1);
    });

    it('seals (a store that can): the copy keeps the bytes of the moment, later writes do not reach it, commit stores that copy and never the partial', async function () {
      if (!store.seal) return this.skip(); // only a store meant to be shared by nodes must seal
      const data = randomBytes(80_000);
      const partial = store.partial(MD5);
      await partial.write(0, data);
      const sealed = await store.seal(MD5, 7, true);
      await partial.write(100, Buffer.from('written after the seal, by a node that still held the temp file'));
      expect(await sealed.size()).to.equal(data.length);
      expect(Buffer.from(await sealed.read(0, data.length, new Uint8Array(data.length))).equals(data)).to.equal(true);
      await sealed.release();
      await store.commit(MD5, MD5, { attempt: 7, durable: true });
      expect((await readAll(store, MD5, 0, data.length - 1)).equals(data)).to.equal(true);
      // an attempt whose copy is gone fails: the partial bytes are never the fallback
      const missing = await store.commit(MD5, OTHER, { attempt: 9, durable: true }).then(() => 'stored', () => 'refused');
      expect(missing).to.equal('refused');
      expect(await store.storedSize(OTHER)).to.equal(undefined);
    });

    it('keeps one sealed copy per upload: a new attempt removes the earlier ones, and so does removePartial', async function () {
      if (!store.seal) return this.skip();
      const partial = store.partial(MD5);
      await partial.write(0, Buffer.from('first'));
      await (await store.seal(MD5, 1, false)).release();
      await partial.write(0, Buffer.from('again'));
      await (await store.seal(MD5, 2, false)).release();
      expect(await store.commit(MD5, OTHER, { attempt: 1, durable: false }).then(() => 'stored', () => 'refused'), 'the earlier copy').to.equal('refused');
      await store.removePartial(MD5);
      expect(await store.partial(MD5).size()).to.equal(-1);
      expect(await store.commit(MD5, OTHER, { attempt: 2, durable: false }).then(() => 'stored', () => 'refused'), 'after removePartial').to.equal('refused');
      await partial.write(0, Buffer.from('third'));
      await (await store.seal(MD5, 3, false)).release();
      await store.commit(MD5, OTHER, { attempt: 3, durable: false });
      expect((await readAll(store, OTHER, 0, 4)).toString()).to.equal('third');
    });

    it('reports free space', async () => {
      expect(await store.freeBytes()).to.be.a('number').and.to.be.at.least(0);
    });
  });
}
