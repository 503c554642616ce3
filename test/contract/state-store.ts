import { expect } from 'chai';
import type { FileIndex, UploadMeta, UploadStateStore } from '../../src/server/store/types.js';

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
  });
}
