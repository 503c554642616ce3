import { expect } from 'chai';
import { UploadGone, type FileIndex, type UploadMeta, type UploadStateStore } from '../../src/server/store/types.js';

const meta = (md5: string, total = 10): UploadMeta => ({
  md5, size: total * 1024, chunkSize: 1024, total, name: `${md5}.bin`, type: 'application/octet-stream', createdAt: 1, updatedAt: 1,
});

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

    it('keeps uploads by md5 and lists them', async () => {
      const a = meta('a'.repeat(32));
      const b = meta('b'.repeat(32), 3);
      expect(await uploads.getUpload(a.md5)).to.equal(undefined);
      await uploads.putUpload(a);
      await uploads.putUpload(b);
      expect(await uploads.getUpload(a.md5)).to.deep.equal(a);
      expect((await all(uploads.listUploads())).map((m) => m.md5).sort()).to.deep.equal([a.md5, b.md5]);
    });

    it('records chunk indices with the new updatedAt, idempotently, per upload', async () => {
      const a = meta('a'.repeat(32));
      const b = meta('b'.repeat(32));
      await uploads.putUpload(a);
      await uploads.putUpload(b);
      await uploads.recordChunks({ ...a, updatedAt: 5 }, [3, 1], true);
      await uploads.recordChunks({ ...a, updatedAt: 6 }, [1, 9], false);
      await uploads.recordChunks(b, [0], true);
      expect((await uploads.receivedIndices(a.md5)).sort((x, y) => x - y)).to.deep.equal([1, 3, 9]);
      expect(await uploads.receivedIndices(b.md5)).to.deep.equal([0]);
      expect((await uploads.getUpload(a.md5))!.updatedAt).to.equal(6);
    });

    it('refuses to record chunks of an upload it no longer holds, and keeps nothing of them', async () => {
      const gone = meta('e'.repeat(32));
      await uploads.putUpload(gone);
      await uploads.deleteUpload(gone.md5);
      const late = await uploads.recordChunks(gone, [1], true).then(() => undefined, (err: unknown) => err);
      expect(late).to.be.instanceOf(UploadGone);
      expect(await uploads.getUpload(gone.md5)).to.equal(undefined);
      expect(await uploads.receivedIndices(gone.md5)).to.deep.equal([]);
    });

    it('clears indices, and deletes an upload with its indices', async () => {
      const a = meta('a'.repeat(32));
      await uploads.putUpload(a);
      await uploads.recordChunks(a, [0, 1, 2], true);
      await uploads.clearChunks(a.md5);
      expect(await uploads.receivedIndices(a.md5)).to.deep.equal([]);
      await uploads.recordChunks(a, [4], true);
      await uploads.deleteUpload(a.md5);
      expect(await uploads.getUpload(a.md5)).to.equal(undefined);
      expect(await uploads.receivedIndices(a.md5)).to.deep.equal([]);
      await uploads.deleteUpload(a.md5); // twice is harmless
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

    it('keeps nested fields of uploads and files (uploaders, metadata) as written', async () => {
      const a = { ...meta('a'.repeat(32)), metadata: { k: 'v' }, uploaders: [{ principal: { id: 'p', role: 'upload' as const, team: 't' }, name: 'n', type: 'x/y', metadata: { k: 'v' } }], completed: true };
      await uploads.putUpload(a);
      expect(await uploads.getUpload(a.md5)).to.deep.equal(a);
      const record = { md5: 'c'.repeat(32), size: 5, name: 'x', type: 'text/plain', createdAt: 7, metadata: { a: '' } };
      await files.putFile(record, true);
      expect(await files.getFile(record.md5)).to.deep.equal(record);
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
