import { expect } from 'chai';
import { UploadGone, type FileIndex, type UploadMeta, type UploadStateStore } from '../../src/server/store/types.js';

const uploader = { principal: { id: '*', role: 'upload' as const }, name: 'x.bin', type: 'application/octet-stream' };
export const meta = (md5: string, total = 10, id = md5): UploadMeta => ({
  id, md5, size: total * 1024, chunkSize: 1024, total, name: `${md5}.bin`, type: 'application/octet-stream', createdAt: 1, updatedAt: 1, received: 0, uploader,
});
const progress = (updatedAt: number, received = 0) => ({ updatedAt, received });

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** What every upload state store and file index must do; each implementation runs this suite. */
export function stateStoreContract(name: string, create: () => Promise<{ uploads: UploadStateStore; files: FileIndex; cleanup(): Promise<void> }>): void {
  describe(`UploadStateStore and FileIndex contract: ${name}`, () => {
    let uploads: UploadStateStore;
    let files: FileIndex;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ uploads, files, cleanup } = await create()));
    afterEach(() => cleanup());

    it('keeps uploads by id and lists them; two uploads of one md5 are apart', async () => {
      const a = meta('a'.repeat(32));
      const b = meta('b'.repeat(32), 3);
      const a2 = meta('a'.repeat(32), 4, `${'a'.repeat(32)}-${'f'.repeat(32)}`);
      expect(await uploads.getUpload(a.id)).to.equal(undefined);
      await uploads.putUpload(a);
      await uploads.putUpload(b);
      await uploads.putUpload(a2);
      expect(await uploads.getUpload(a.id)).to.deep.equal(a);
      expect(await uploads.getUpload(a2.id)).to.deep.equal(a2);
      expect((await all(uploads.listUploads())).map((m) => m.id).sort()).to.deep.equal([a.id, a2.id, b.id]);
      await uploads.recordChunks(a2.id, [2], progress(2), true);
      expect(await uploads.receivedIndices(a.id)).to.deep.equal([]);
    });

    it('records chunk indices with the new updatedAt, idempotently, per upload', async () => {
      const a = meta('a'.repeat(32));
      const b = meta('b'.repeat(32));
      await uploads.putUpload(a);
      await uploads.putUpload(b);
      await uploads.recordChunks(a.id, [3, 1], progress(5, 2048), true);
      await uploads.recordChunks(a.id, [1, 9], progress(6, 3072), false);
      await uploads.recordChunks(b.id, [0], progress(1), true);
      expect((await uploads.receivedIndices(a.id)).sort((x, y) => x - y)).to.deep.equal([1, 3, 9]);
      expect(await uploads.receivedIndices(b.id)).to.deep.equal([0]);
      expect(await uploads.getUpload(a.id)).to.deep.equal({ ...a, updatedAt: 6, received: 3072 });
    });

    it('records chunks without writing back anything else of the record (another node may have changed it)', async () => {
      const a = meta('a'.repeat(32));
      await uploads.putUpload(a);
      const changed = { ...a, metadata: { k: 'v' } };
      await uploads.putUpload(changed); // another node's write of the record
      await uploads.recordChunks(a.id, [0], progress(9, 1024), true);
      expect(await uploads.getUpload(a.id)).to.deep.equal({ ...changed, updatedAt: 9, received: 1024 });
    });

    it('refuses chunks of an upload once it is verified or completed (its merge is under way or done)', async () => {
      for (const step of [{ verified: { at: 5, attempt: 3 } }, { completed: true }]) {
        const a = { ...meta('a'.repeat(32)), ...step };
        await uploads.putUpload(a);
        const late = await uploads.recordChunks(a.id, [1], progress(7), true).then(() => undefined, (err: unknown) => err);
        expect(late).to.be.instanceOf(UploadGone);
        expect(await uploads.receivedIndices(a.id)).to.deep.equal([]);
        expect(await uploads.getUpload(a.id)).to.deep.equal(a);
        await uploads.deleteUpload(a.id);
      }
    });

    it('keeps a secret per name, the same at every call (when it keeps one)', async function () {
      if (!uploads.secret) return this.skip();
      const first = await uploads.secret('possession');
      expect(first.length).to.equal(32);
      expect(Buffer.from(await uploads.secret('possession')).equals(Buffer.from(first))).to.equal(true);
      expect(Buffer.from(await uploads.secret('other')).equals(Buffer.from(first))).to.equal(false);
    });

    it('refuses to record chunks of an upload it no longer holds, and keeps nothing of them', async () => {
      const gone = meta('e'.repeat(32));
      await uploads.putUpload(gone);
      await uploads.deleteUpload(gone.id);
      const late = await uploads.recordChunks(gone.id, [1], progress(2), true).then(() => undefined, (err: unknown) => err);
      expect(late).to.be.instanceOf(UploadGone);
      expect(await uploads.getUpload(gone.id)).to.equal(undefined);
      expect(await uploads.receivedIndices(gone.id)).to.deep.equal([]);
    });

    it('clears indices, and deletes an upload with its indices', async () => {
      const a = meta('a'.repeat(32));
      await uploads.putUpload(a);
      await uploads.recordChunks(a.id, [0, 1, 2], progress(2), true);
      await uploads.clearChunks(a.id);
      expect(await uploads.receivedIndices(a.id)).to.deep.equal([]);
      await uploads.recordChunks(a.id, [4], progress(3), true);
      await uploads.deleteUpload(a.id);
      expect(await uploads.getUpload(a.id)).to.equal(undefined);
      expect(await uploads.receivedIndices(a.id)).to.deep.equal([]);
      await uploads.deleteUpload(a.id); // twice is harmless
    });

    it('keeps file records and lists them', async () => {
      const record = { md5: 'c'.repeat(32), size: 5, name: 'x', type: 'text/plain', createdAt: 7, sha256: 'd'.repeat(64) };
      expect(await files.getFile(record.md5)).to.equal(undefined);
      await files.putFile(record, true);
      expect(await files.getFile(record.md5)).to.deep.equal(record);
      expect(await all(files.listFiles())).to.deep.equal([record]);
      await files.deleteFile(record.md5);
      expect(await files.getFile(record.md5)).to.equal(undefined);
      expect(await all(files.listFiles())).to.deep.equal([]);
      await files.deleteFile(record.md5); // twice is harmless
    });

    it('keeps one entry per owner and md5, lists an owner\'s entries only, and round-trips metadata', async () => {
      const entry = (owner: string, md5: string, name: string) => ({ owner, md5, name, type: 'text/plain', createdAt: 3, metadata: { album: 'été', n: '1' } });
      const [m1, m2] = ['1'.repeat(32), '2'.repeat(32)];
      expect(await files.getEntry('alice', m1)).to.equal(undefined);
      await files.putEntry(entry('alice', m2, 'b.txt'), true);
      await files.putEntry(entry('alice', m1, 'a.txt'), false);
      await files.putEntry(entry('alice2', m1, 'other.txt'), true); // an owner whose id extends another's
      await files.putEntry(entry('bob', m1, 'mine.txt'), true);
      await files.putEntry(entry('alice', m1, 'a2.txt'), true); // replaces
      expect(await files.getEntry('alice', m1)).to.deep.equal(entry('alice', m1, 'a2.txt'));
      expect(await files.getEntry('bob', m1)).to.deep.equal(entry('bob', m1, 'mine.txt'));
      expect((await all(files.listEntries('alice'))).map((e) => [e.md5, e.name])).to.deep.equal([[m1, 'a2.txt'], [m2, 'b.txt']]);
      expect(await all(files.listEntries('nobody'))).to.deep.equal([]);
    });

    it('keeps nested fields of uploads and files (uploader, metadata) as written', async () => {
      const a = { ...meta('a'.repeat(32)), metadata: { k: 'v' }, uploader: { principal: { id: 'p', role: 'upload' as const, team: 't' }, name: 'n', type: 'x/y', metadata: { k: 'v' } }, completed: true };
      await uploads.putUpload(a);
      expect(await uploads.getUpload(a.id)).to.deep.equal(a);
      const record = { md5: 'c'.repeat(32), size: 5, name: 'x', type: 'text/plain', createdAt: 7, metadata: { a: '' } };
      await files.putFile(record, true);
      expect(await files.getFile(record.md5)).to.deep.equal(record);
    });

    it('deletes one owner\'s entry, and knows whether anyone still has one for that md5', async () => {
      const [m1, m2] = ['1'.repeat(32), '2'.repeat(32)];
      const entry = (owner: string, md5: string) => ({ owner, md5, name: `${owner}.txt`, type: 'text/plain', createdAt: 1 });
      expect(await files.hasEntries(m1)).to.equal(false);
      for (const owner of ['alice', 'a:b', 'bob']) await files.putEntry(entry(owner, m1), true);
      await files.putEntry(entry('alice', m2), true);
      await files.putEntry(entry('alice', m1), true); // a replaced entry is still one entry
      await files.deleteEntry('alice', m1, true);
      expect(await files.getEntry('alice', m1)).to.equal(undefined);
      expect((await all(files.listEntries('alice'))).map((e) => e.md5), 'her other file').to.deep.equal([m2]);
      expect(await files.hasEntries(m1), 'a:b and bob still have one').to.equal(true);
      await files.deleteEntry('alice', m1, true); // twice is harmless
      await files.deleteEntry('a', m1, true); // an owner whose id another's extends: not a:b's entry
      expect((await files.getEntry('a:b', m1))?.name).to.equal('a:b.txt');
      await files.deleteEntry('a:b', m1, true);
      expect(await files.hasEntries(m1)).to.equal(true);
      await files.deleteEntry('bob', m1, false);
      expect(await files.hasEntries(m1), 'the last one gone').to.equal(false);
      expect(await files.hasEntries(m2)).to.equal(true);
    });

    it('keeps owners apart whatever printable characters their ids hold', async () => {
      const owners = ['a', 'a:b', 'a b', 'a\\', 'ü/é:"x"', ':'];
      const md5 = '1'.repeat(32);
      for (const owner of owners) await files.putEntry({ owner, md5, name: `${owner}.txt`, type: 'text/plain', createdAt: 1 }, true);
      for (const owner of owners) {
        expect((await files.getEntry(owner, md5))?.name).to.equal(`${owner}.txt`);
        expect((await all(files.listEntries(owner))).map((e) => e.owner)).to.deep.equal([owner]);
      }
    });
  });
}
