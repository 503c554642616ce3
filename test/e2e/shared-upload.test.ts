import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { upload, watch } from '../../src/client/node.js';
import { randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { connect, ok, request, startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;
const TOTAL = 40;

describe('many clients on one md5, one of them sending garbage', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    server = await startTestServer({ chunkSize: CHUNK });
    dir = await tempDir();
  });
  afterEach(async () => {
    await server.stop();
    await dir.remove();
  });

  for (const honest of [2, 8]) {
    it(`${honest} honest clients finish; the garbage never reaches the store`, async () => {
      const file = await randomFile(dir.path, TOTAL * CHUNK, 'shared.bin');
      const liar = await connect(server.url);
      await ok(liar, 'init', { md5: file.md5, size: file.data.length, name: 'shared.bin' });
      const watcher = await watch({ url: server.url, md5: file.md5 });
      const failures: string[] = [];
      watcher.on('ended', (e) => failures.push(`${e.reason} ${e.code}`));
      // the liar claims the md5 and has random bytes stored for every chunk before anyone else
      const lies = await Promise.all(Array.from({ length: TOTAL }, (_, index) =>
        request(liar, 'chunk', { md5: file.md5, index, total: TOTAL, data: randomBytes(CHUNK) })));
      expect(lies.every((l) => l.ok)).to.equal(true);
      // then the honest clients and the liar's merge, all at once
      const uploads = Array.from({ length: honest }, () => upload(file.path, { url: server.url, maxInFlight: 2 * CHUNK }));
      const merged = await request(liar, 'merge', { md5: file.md5 });
      const results = await Promise.all(uploads);
      liar.disconnect();
      watcher.close();
      for (const result of results) expect(result.file.md5).to.equal(file.md5);
      // the first merge finds the garbage (E_CHECKSUM); a later one finds the chunks gone (E_INCOMPLETE)
      expect(merged.ok || merged.error.code).to.be.oneOf(['E_CHECKSUM', 'E_INCOMPLETE']);
      expect(failures[0]).to.equal('failed E_CHECKSUM');
      const stored = await readFile(storedPath(server.config.uploadDir, file.md5));
      expect(stored.equals(file.data)).to.equal(true);
      await server.service.sha256Recorded();
      const { files } = (await (await fetch(`${server.url}/files`)).json()) as { files: { md5: string; sha256: string }[] };
      expect(files).to.deep.equal([{ ...files[0], md5: file.md5, sha256: createHash('sha256').update(file.data).digest('hex') }]);
    });
  }
});
