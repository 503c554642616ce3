import { expect } from 'chai';
import { appendFile, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploader, upload } from '../../src/client/node.js';
import { md5Of, randomFile, tempDir } from '../support/fixtures.js';
import { exited, connect, ok, request, spawnServer, startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

describe('files changed behind our back', () => {
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

  async function allChunksSent() {
    const data = (await randomFile(dir.path, 4 * CHUNK)).data;
    const md5 = md5Of(data);
    const socket = await connect(server.url);
    await ok(socket, 'init', { md5, size: data.length, name: 'victim.bin' });
    const sendAll = async () => {
      for (let index = 0; index < 4; index++) await ok(socket, 'chunk', { md5, index, total: 4, data: data.subarray(index * CHUNK, (index + 1) * CHUNK) });
    };
    await sendAll();
    return { socket, md5, sendAll, temp: join(server.config.uploadDir, '.partial', `${md5}.part`) };
  }

  for (const [what, tamper] of [
    ['truncated', (path: string) => truncate(path, 3 * CHUNK)],
    ['deleted', (path: string) => rm(path)],
    ['grown', (path: string) => appendFile(path, 'x')],
  ] as const) {
    it(`a temp file ${what} before the merge is caught (E_CHECKSUM), never stored, and the upload starts over`, async () => {
      const { socket, md5, sendAll, temp } = await allChunksSent();
      await tamper(temp);
      const merged = await request(socket, 'merge', { md5 });
      expect(merged.ok || merged.error.code).to.equal('E_CHECKSUM');
      expect((await fetch(`${server.url}/files/${md5}`)).status).to.equal(404);
      expect(await ok(socket, 'status', { md5 })).to.deep.include({ status: 'partial', missing: [[0, 4]] });
      // sent again, it completes
      await sendAll();
      expect(await ok(socket, 'merge', { md5 })).to.deep.include({ status: 'complete' });
      expect(md5Of(Buffer.from(await (await fetch(`${server.url}/files/${md5}`)).arrayBuffer()))).to.equal(md5);
      socket.disconnect();
    });
  }

  it('bytes corrupted in place on disk: caught with VERIFY=disk, a documented limit with VERIFY=received', async () => {
    for (const verify of ['disk', 'received'] as const) {
      await server.stop();
      server = await startTestServer({ chunkSize: CHUNK, verify });
      const { socket, md5, temp } = await allChunksSent();
      const handle = await open(temp, 'r+');
      await handle.write(Buffer.from('corrupted'), 0, 9, CHUNK + 100); // same size, other bytes
      await handle.close();
      const merged = await request(socket, 'merge', { md5 });
      socket.disconnect();
      if (verify === 'disk') {
        expect(merged.ok || merged.error.code).to.equal('E_CHECKSUM');
        expect((await fetch(`${server.url}/files/${md5}`)).status).to.equal(404);
      } else {
        // the MD5 was of the bytes as received: this corruption is not seen (see docs/guarantees.md)
        expect(merged.ok).to.equal(true);
      }
    }
  });

  it('the source file changing during an upload ends in E_CHECKSUM with nothing stored', async () => {
    const file = await randomFile(dir.path, 40 * CHUNK, 'changing.bin');
    const uploader = await createUploader(file.path, { url: server.url, maxInFlight: 1 * CHUNK });
    let changed = false;
    uploader.on('progress', (p) => {
      if (!changed && p.bytes > 10 * CHUNK) {
        changed = true;
        // same size, other bytes, written in place (no truncation, so every read still succeeds)
        void open(file.path, 'r+').then(async (handle) => {
          await handle.write(Buffer.alloc(file.data.length, 0x5a), 0, file.data.length, 0);
          await handle.close();
        });
      }
    });
    const err = await uploader.start().catch((e: { code: string }) => e);
    expect(err).to.have.property('code', 'E_CHECKSUM');
    expect((await fetch(`${server.url}/files/${file.md5}`)).status).to.equal(404);
    expect(((await (await fetch(`${server.url}/files`)).json()) as { files: unknown[] }).files).to.deep.equal([]);
  });
});

describe('a damaged LevelDB', () => {
  it('is reported at start, and the server serves nothing from it', async () => {
    const dir = await tempDir();
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    try {
      const first = await spawnServer(dirs);
      const file = await randomFile(dir.path, 1000);
      await upload(file.path, { url: first.url });
      first.child.kill('SIGTERM');
      await exited(first.child);
      const current = (await readFile(join(dirs.dbDir, 'CURRENT'), 'utf8')).trim();
      await writeFile(join(dirs.dbDir, current), 'not a manifest at all');
      const err = await spawnServer(dirs).then(() => null, (e: Error) => e);
      expect(err?.message).to.match(/exited with 2: upwire: cannot open the database at .*db: /);
    } finally {
      await dir.remove();
    }
  });
});
