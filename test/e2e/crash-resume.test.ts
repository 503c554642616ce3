import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploader } from '../../src/client/node.js';
import { countOf } from '../../src/protocol/index.js';
import { randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { expectAckedKept, sendChunks, statusOf } from '../support/chunks.js';
import { startProxy } from '../support/proxy.js';
import { connect, exited, ok, request, spawnServer, startTestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

describe('crashes and drops lose nothing that was acknowledged', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => (dir = await tempDir()));
  afterEach(() => dir.remove());

  it('kill -9 of the server mid-upload: every acknowledged chunk survives the restart, resume sends only the rest', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const file = await randomFile(dir.path, 200 * CHUNK + 99);
    const total = 201;
    const first = await spawnServer(dirs, { CHUNK_SIZE: String(CHUNK) });
    const socket = await connect(first.url);
    await ok(socket, 'init', { md5: file.md5, size: file.data.length, name: 'big.bin', chunkSize: CHUNK });
    // Chunks in flight in random order, several at a time; the server dies while they are being
    // written. One chunk is held back, so the upload is unfinished whenever the kill lands.
    const acked = new Set<number>();
    const order = Array.from({ length: total }, (_, i) => i).sort(() => Math.random() - 0.5).slice(1);
    const sends = order.map((index) =>
      request(socket, 'chunk', { md5: file.md5, index, total, data: file.data.subarray(index * CHUNK, (index + 1) * CHUNK) }, 20_000)
        .then((r) => r.ok && acked.add(index), () => {}),
    );
    while (acked.size < 60) await new Promise((r) => setTimeout(r, 1));
    first.child.kill('SIGKILL');
    expect(await exited(first.child)).to.deep.equal({ code: null, signal: 'SIGKILL' });
    await Promise.all(sends);
    socket.disconnect();
    expect(acked.size).to.be.within(60, total - 1);

    const second = await spawnServer(dirs);
    try {
      const status = await statusOf(second.url, file.md5);
      if (status.status !== 'partial') throw new Error(`expected a partial upload, got ${status.status}`);
      expectAckedKept(status.missing, acked);
      const uploader = await createUploader(file.path, { url: second.url });
      const result = await uploader.start();
      expect(result.chunksSent).to.equal(countOf(status.missing));
      expect(result.chunksSent).to.be.at.most(total - acked.size);
      const stored = await readFile(storedPath(dirs.uploadDir, file.md5));
      expect(stored.equals(file.data)).to.equal(true);
    } finally {
      second.child.kill('SIGTERM');
      expect((await exited(second.child)).code).to.equal(0);
    }
  });

  it('a dropped connection mid-upload: the client reconnects, asks what is missing and finishes', async () => {
    const server = await startTestServer();
    const proxy = await startProxy(server.url);
    try {
      const file = await randomFile(dir.path, 120 * CHUNK);
      const uploader = await createUploader(file.path, { url: proxy.url, chunkSize: CHUNK, maxInFlight: 4 * CHUNK, retries: 5 });
      let cuts = 0;
      const retries: string[] = [];
      uploader.on('progress', (p) => {
        if ((cuts === 0 && p.bytes > 30 * CHUNK) || (cuts === 1 && p.bytes > 80 * CHUNK)) {
          cuts++;
          proxy.cut();
        }
      });
      uploader.on('retry', ({ error }) => retries.push(error.code));
      const result = await uploader.start();
      expect(cuts).to.equal(2);
      expect(retries).to.have.length.greaterThanOrEqual(2);
      expect(retries.every((code) => code === 'E_DISCONNECTED')).to.equal(true);
      // Each index is acknowledged as stored at most once: a chunk is re-sent only when the server lacks it.
      // What a cut costs is at most the window (4 chunks) and the chunk in progress, per cut: their
      // answers were lost (stored, not re-sent) or their frames were (re-sent).
      expect(result.chunksStored).to.be.within(120 - 2 * 5, 120);
      expect(result.chunksSent).to.be.within(120, 120 + 2 * 5);
      expect(result.bytesSent).to.be.at.most((120 + 2 * 5) * CHUNK);
      const res = await fetch(`${server.url}/files/${file.md5}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(file.data)).to.equal(true);
    } finally {
      await proxy.close();
      await server.stop();
    }
  });

  it('a half-open connection (black-holed mid-upload): the client gives up on it, reconnects on a new socket and finishes', async () => {
    const server = await startTestServer();
    const proxy = await startProxy(server.url);
    try {
      const file = await randomFile(dir.path, 80 * CHUNK);
      const uploader = await createUploader(file.path, { url: proxy.url, chunkSize: CHUNK, timeoutMs: 1000 });
      let holed = false;
      const retries: string[] = [];
      uploader.on('progress', (p) => {
        if (!holed && p.bytes > 20 * CHUNK) {
          holed = true;
          proxy.blackhole();
        }
      });
      uploader.on('retry', ({ error }) => retries.push(error.code));
      // Without a new socket every retry would time out again on the dead one and the upload would
      // fail; socket.io's own ping timeout (45 s) would come after the test's limit.
      const result = await uploader.start();
      expect(retries[0]).to.equal('E_TIMEOUT');
      expect(result.file.md5).to.equal(file.md5);
      const res = await fetch(`${server.url}/files/${file.md5}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(file.data)).to.equal(true);
    } finally {
      await proxy.close();
      await server.stop();
    }
  });

  it('SIGTERM: the server closes cleanly and exits 0, and the next start resumes', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const server = await spawnServer(dirs);
    const socket = await connect(server.url);
    const data = Buffer.alloc(2 * CHUNK, 9);
    const { md5Of } = await import('../support/fixtures.js');
    const md5 = md5Of(data);
    await ok(socket, 'init', { md5, size: data.length, name: 'a', chunkSize: CHUNK });
    await ok(socket, 'chunk', { md5, index: 1, total: 2, data: data.subarray(CHUNK) });
    server.child.kill('SIGTERM');
    expect(await exited(server.child)).to.deep.equal({ code: 0, signal: null });
    socket.disconnect();
    const again = await spawnServer(dirs);
    try {
      const client = await connect(again.url);
      expect(await ok(client, 'status', { md5 })).to.deep.include({ missing: [[0, 1]], next: 0 });
      client.disconnect();
    } finally {
      again.child.kill('SIGTERM');
      await exited(again.child);
    }
  });

  it('SIGTERM during an upload: in-flight writes finish, the server exits 0, nothing acknowledged is lost', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const file = await randomFile(dir.path, 100 * CHUNK + 1);
    const server = await spawnServer(dirs, { CHUNK_SIZE: String(CHUNK), FSYNC: 'on' });
    const socket = await connect(server.url);
    await ok(socket, 'init', { md5: file.md5, size: file.data.length, name: 'term.bin' });
    const acked = new Set<number>();
    const lanes = sendChunks(socket, file.md5, file.data, CHUNK, acked);
    while (acked.size < 30) await new Promise((r) => setTimeout(r, 1));
    server.child.kill('SIGTERM');
    expect(await exited(server.child)).to.deep.equal({ code: 0, signal: null });
    await lanes;
    socket.disconnect();
    const again = await spawnServer(dirs);
    try {
      const status = await statusOf(again.url, file.md5);
      if (status.status !== 'partial') throw new Error(status.status);
      expectAckedKept(status.missing, acked);
      const { upload } = await import('../../src/client/node.js');
      await upload(file.path, { url: again.url });
      expect((await readFile(storedPath(dirs.uploadDir, file.md5))).equals(file.data)).to.equal(true);
    } finally {
      again.child.kill('SIGTERM');
      await exited(again.child);
    }
  });

  it('a second server on the same DB_DIR fails fast with a clear message', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const server = await spawnServer(dirs);
    try {
      const err = await spawnServer(dirs).then(() => null, (e: Error) => e);
      expect(err?.message).to.match(/exited with 2: upwire: the database at .* is in use by another upwire server/);
    } finally {
      server.child.kill('SIGKILL');
      await exited(server.child);
    }
    // after a kill -9 the next start needs no clean-up
    const next = await spawnServer(dirs);
    next.child.kill('SIGTERM');
    expect((await exited(next.child)).code).to.equal(0);
  });
});
