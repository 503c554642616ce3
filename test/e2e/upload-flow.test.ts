import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploader, upload } from '../../src/client/node.js';
import { EMPTY_MD5 } from '../../src/protocol/index.js';
import { md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { connect, ok, request, startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

async function download(server: TestServer, md5: string): Promise<Buffer> {
  const res = await fetch(`${server.url}/files/${md5}`);
  expect(res.status).to.equal(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('upload flow (real server, real LevelDB, real sockets)', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeEach(async () => {
    server = await startTestServer();
    dir = await tempDir();
  });
  afterEach(async () => {
    await server.stop();
    await dir.remove();
  });

  it('uploads a file with the Node client and downloads the exact bytes back', async () => {
    const file = await randomFile(dir.path, 10 * CHUNK + 123);
    const uploader = await createUploader(file.path, { url: server.url, chunkSize: CHUNK, maxInFlight: 4 * CHUNK });
    const phases: string[] = [];
    let hashed = 0;
    let lastProgress = 0;
    uploader.on('phase', (p) => phases.push(p));
    uploader.on('hash-progress', (p) => (hashed = p.bytes));
    uploader.on('progress', (p) => {
      expect(p.bytes).to.be.at.least(lastProgress);
      lastProgress = p.bytes;
    });
    const result = await uploader.start();
    expect(result).to.include({ md5: file.md5, instant: false, chunksSent: 11, bytesSent: file.data.length });
    // SHA256=background: the answer has no SHA-256; the record gains it after the merge
    expect(result.file).to.deep.equal({ md5: file.md5, size: file.data.length, name: 'file-655483.bin', type: 'application/octet-stream', url: `/files/${file.md5}` });
    await server.service.sha256Recorded();
    const { files } = (await (await fetch(`${server.url}/files`)).json()) as { files: { sha256?: string }[] };
    expect(files[0]!.sha256).to.equal(createHash('sha256').update(file.data).digest('hex'));
    // Connected and asked (the preflight) before the hash pass, then the init.
    expect(phases).to.deep.equal(['connecting', 'hashing', 'connecting', 'uploading', 'verifying', 'done']);
    expect(hashed).to.equal(file.data.length);
    expect(lastProgress).to.equal(file.data.length);
    expect((await download(server, file.md5)).equals(file.data)).to.equal(true);
    // nothing left behind in the temp area
    expect(await readdir(join(server.config.uploadDir, '.partial'))).to.deep.equal([]);
  });

  it('answers with the SHA-256 computed beside the MD5 check with SHA256=inline, and records none with SHA256=off', async () => {
    for (const sha256 of ['inline', 'off'] as const) {
      const other = await startTestServer({ sha256 });
      try {
        const file = await randomFile(dir.path, 3 * CHUNK + 7);
        const result = await upload(file.path, { url: other.url, chunkSize: CHUNK });
        const expected = sha256 === 'inline' ? createHash('sha256').update(file.data).digest('hex') : undefined;
        expect(result.file.sha256, sha256).to.equal(expected);
        await other.service.sha256Recorded();
        const { files } = (await (await fetch(`${other.url}/files`)).json()) as { files: { sha256?: string }[] };
        expect(files[0]!.sha256, sha256).to.equal(expected);
      } finally {
        await other.stop();
      }
    }
  });

  it('hashes one file at a time in a process: uploads started together overlap one\'s hashing with the others\' sending', async () => {
    const files = await Promise.all([0, 1, 2].map((i) => randomFile(dir.path, 9 * 1024 * 1024 + i, `h${i}.bin`)));
    const log: string[] = [];
    const uploaders = await Promise.all(files.map((f) => createUploader(f.path, { url: server.url, chunkSize: CHUNK, hashCache: false })));
    uploaders.forEach((uploader, i) => {
      let started = false;
      uploader.on('hash-progress', (p) => {
        if (!started && p.bytes > 0) log.push(`start ${i}`);
        started ||= p.bytes > 0;
        if (p.bytes === files[i]!.data.length) log.push(`end ${i}`);
      });
    });
    const results = await Promise.all(uploaders.map((u) => u.start()));
    expect(results.map((r) => r.md5)).to.deep.equal(files.map((f) => f.md5));
    // each file's hash pass (three reads of 4 MiB) ends before the next one's begins
    expect(log).to.have.length(6);
    for (let k = 0; k < 6; k += 2) expect(log[k + 1]!.split(' ')[1], log.join(', ')).to.equal(log[k]!.split(' ')[1]);
  });

  it('uploads again instantly, sending zero chunks', async () => {
    const file = await randomFile(dir.path, 3 * CHUNK);
    await upload(file.path, { url: server.url, chunkSize: CHUNK });
    const uploader = await createUploader(file.path, { url: server.url, chunkSize: CHUNK });
    let progressEvents = 0;
    uploader.on('progress', () => progressEvents++);
    const again = await uploader.start();
    expect(again).to.include({ instant: true, chunksSent: 0, bytesSent: 0 });
    expect(progressEvents).to.equal(0);
  });

  it('answers init for a stored md5 with complete, and with another size with E_SIZE_MISMATCH', async () => {
    const file = await randomFile(dir.path, CHUNK);
    await upload(file.path, { url: server.url });
    const socket = await connect(server.url);
    try {
      const init = await ok(socket, 'init', { md5: file.md5, size: CHUNK, name: 'x' });
      expect(init).to.deep.include({ status: 'complete' });
      const other = await request(socket, 'init', { md5: file.md5, size: CHUNK + 1, name: 'x' });
      expect(other.ok || other.error.code).to.equal('E_SIZE_MISMATCH');
    } finally {
      socket.disconnect();
    }
  });

  it('resumes after the client stopped, sending only the missing chunks', async () => {
    const file = await randomFile(dir.path, 20 * CHUNK);
    const first = await createUploader(file.path, { url: server.url, chunkSize: CHUNK, maxInFlight: 1 * CHUNK });
    first.on('progress', (p) => {
      if (p.bytes >= 7 * CHUNK) first.abort();
    });
    const failed = await first.start().catch((err: { code: string }) => err);
    expect(failed).to.have.property('code', 'E_ABORTED');

    const socket = await connect(server.url);
    const status = await ok(socket, 'status', { md5: file.md5 });
    socket.disconnect();
    expect(status.status).to.equal('partial');
    if (status.status !== 'partial') return;
    const missingCount = status.missing.reduce((n, [a, b]) => n + b - a, 0);
    expect(missingCount).to.be.within(1, 13);
    expect(status.next).to.equal(20 - missingCount);

    const second = await createUploader(file.path, { url: server.url, chunkSize: CHUNK });
    let firstProgress: number | undefined;
    second.on('progress', (p) => (firstProgress ??= p.bytes));
    const result = await second.start();
    expect(result.chunksSent).to.equal(missingCount);
    expect(firstProgress, 'progress starts at what the server already has').to.equal((20 - missingCount) * CHUNK);
    expect((await download(server, file.md5)).equals(file.data)).to.equal(true);
  });

  it('accepts chunks out of order and duplicates, and merges the right bytes', async () => {
    const data = (await randomFile(dir.path, 5 * CHUNK + 7)).data;
    const md5 = md5Of(data);
    const socket = await connect(server.url);
    try {
      const init = await ok(socket, 'init', { md5, size: data.length, name: 'ooo.bin', chunkSize: CHUNK });
      expect(init).to.deep.include({ status: 'partial', chunkSize: CHUNK, total: 6, missing: [[0, 6]], next: 0 });
      const send = (index: number) =>
        ok(socket, 'chunk', { md5, index, total: 6, data: data.subarray(index * CHUNK, Math.min(data.length, (index + 1) * CHUNK)) });
      expect(await send(5)).to.deep.equal({ ok: true, index: 5, offset: 0, accepted: true, stored: true, next: 0, received: 1, total: 6 });
      expect(await send(3)).to.include({ next: 0, received: 2, accepted: true, stored: true });
      expect(await send(3)).to.include({ next: 0, received: 2, accepted: false, stored: true }); // duplicate: answered again, harmless
      const early = await request(socket, 'merge', { md5 });
      expect(early.ok || early.error).to.deep.include({ code: 'E_INCOMPLETE', missing: [[0, 3], [4, 5]] });
      await Promise.all([send(0), send(0), send(1), send(4), send(2)]); // several in flight, one twice
      const status = await ok(socket, 'status', { md5 });
      expect(status).to.deep.include({ status: 'partial', missing: [], next: null });
      const merged = await ok(socket, 'merge', { md5 });
      expect(merged.status).to.equal('complete');
      expect(await ok(socket, 'merge', { md5 })).to.deep.equal(merged); // idempotent
      expect(await ok(socket, 'chunk', { md5, index: 1, total: 6, data: data.subarray(CHUNK, 2 * CHUNK) }))
        .to.include({ next: null, accepted: false, stored: true }); // a late chunk after completion is harmless
    } finally {
      socket.disconnect();
    }
    expect((await download(server, md5)).equals(data)).to.equal(true);
  });

  it('uploads a zero-byte file', async () => {
    const file = await randomFile(dir.path, 0, 'empty.txt');
    const result = await upload(file.path, { url: server.url });
    expect(result).to.include({ md5: EMPTY_MD5, chunksSent: 0, instant: false });
    expect(result.file.size).to.equal(0);
    expect((await download(server, EMPTY_MD5)).length).to.equal(0);
    expect((await upload(file.path, { url: server.url })).instant).to.equal(true);
  });

  it('lets two clients upload the same md5 at once; both end complete', async () => {
    const file = await randomFile(dir.path, 40 * CHUNK + 1);
    const [a, b] = await Promise.all([
      upload(file.path, { url: server.url, chunkSize: CHUNK, maxInFlight: 3 * CHUNK }),
      upload(file.path, { url: server.url, chunkSize: CHUNK, maxInFlight: 5 * CHUNK }),
    ]);
    // the same file; a later answer may carry the SHA-256 the record gained since the merge (SHA256=background)
    const withoutSha256 = ({ sha256: _, ...info }: typeof a.file) => info;
    expect(withoutSha256(a.file)).to.deep.equal(withoutSha256(b.file));
    expect((await download(server, file.md5)).equals(file.data)).to.equal(true);
    const stored = await readFile(storedPath(server.config.uploadDir, file.md5));
    expect(md5Of(stored)).to.equal(file.md5);
  });

  it('aborts a partial upload on request, deleting its temp data, never a completed file', async () => {
    const file = await randomFile(dir.path, 4 * CHUNK);
    const socket = await connect(server.url);
    try {
      await ok(socket, 'init', { md5: file.md5, size: file.data.length, name: 'a', chunkSize: CHUNK });
      await ok(socket, 'chunk', { md5: file.md5, index: 0, total: 4, data: file.data.subarray(0, CHUNK) });
      expect(await readdir(join(server.config.uploadDir, '.partial'))).to.have.length(1);
      expect(await ok(socket, 'abort', { md5: file.md5 })).to.deep.equal({ ok: true });
      expect(await ok(socket, 'status', { md5: file.md5 })).to.deep.equal({ ok: true, status: 'none' });
      expect(await readdir(join(server.config.uploadDir, '.partial'))).to.deep.equal([]);

      await upload(file.path, { url: server.url });
      await ok(socket, 'abort', { md5: file.md5 });
      expect(await ok(socket, 'status', { md5: file.md5 })).to.deep.include({ status: 'complete' });
      expect((await download(server, file.md5)).equals(file.data)).to.equal(true);
    } finally {
      socket.disconnect();
    }
  });
});
