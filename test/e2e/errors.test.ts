import { expect } from 'chai';
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { upload } from '../../src/client/node.js';
import { MAX_FRAME_SIZE, type ErrorCode } from '../../src/protocol/index.js';
import { MAX_FRAME_BYTES } from '../../src/server/index.js';
import { eventually, md5Of, randomFile, storedShard, tempDir } from '../support/fixtures.js';
import { connect, ok, request, startTestServer, type RawSocket, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;
const MD5 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

/** Everything a bad request could have changed: files on disk, stored files, partial uploads. */
async function state(server: TestServer) {
  const disk = (await readdir(server.config.uploadDir, { recursive: true })).sort();
  const files = await (await fetch(`${server.url}/files`)).json();
  const uploads = server.service.snapshot().map(({ md5, total, received, bytes }) => ({ md5, total, received, bytes }));
  return { disk, files, uploads };
}

async function expectCode(socket: RawSocket, event: Parameters<typeof request>[1], payload: unknown, code: ErrorCode) {
  const result = await request(socket, event, payload);
  expect(result.ok, `${event} ${JSON.stringify(payload)?.slice(0, 80)} should fail`).to.equal(false);
  if (!result.ok) expect(result.error.code).to.equal(code);
  return result;
}

describe('bad input: a clear error code, nothing changed, server still up', () => {
  let server: TestServer;
  let socket: RawSocket;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const data = Buffer.alloc(3 * CHUNK + 10, 7);
  const md5 = md5Of(data);

  beforeEach(async () => {
    server = await startTestServer({ maxFileSize: 2 ** 50 });
    dir = await tempDir();
    socket = await connect(server.url);
    // one partial upload (3 of 4 chunks) and one stored file, which no bad request may disturb
    await ok(socket, 'init', { md5, size: data.length, name: 'partial.bin', chunkSize: CHUNK });
    for (const index of [0, 1, 2]) await ok(socket, 'chunk', { md5, index, total: 4, data: data.subarray(index * CHUNK, (index + 1) * CHUNK) });
    await upload((await randomFile(dir.path, 1000)).path, { url: server.url });
  });
  afterEach(async () => {
    socket.disconnect();
    await server.stop();
    await dir.remove();
  });

  const cases: [string, Parameters<typeof request>[1], () => unknown, ErrorCode][] = [
    ['init: md5 not hex', 'init', () => ({ md5: 'zz', size: 1, name: 'a' }), 'E_BAD_REQUEST'],
    ['init: size negative', 'init', () => ({ md5: MD5, size: -1, name: 'a' }), 'E_BAD_REQUEST'],
    ['init: name with ../ and NUL', 'init', () => ({ md5: MD5, size: 1, name: '../\u0000x' }), 'E_BAD_REQUEST'],
    ['init: payload a string', 'init', () => 'init', 'E_BAD_REQUEST'],
    ['init: above MAX_FILE_SIZE', 'init', () => ({ md5: MD5, size: 2 ** 50 + 1, name: 'a' }), 'E_TOO_LARGE'],
    ['init: more than the free disk', 'init', () => ({ md5: MD5, size: 2 ** 43, name: 'a' }), 'E_NO_SPACE'],
    ['init: known partial md5 receiving bytes, other size', 'init', () => ({ md5, size: data.length + 1, name: 'a' }), 'E_CONFLICT'],
    ['chunk: unknown md5', 'chunk', () => ({ md5: MD5, index: 0, total: 1, data: Buffer.alloc(1) }), 'E_UNKNOWN_UPLOAD'],
    ['chunk: index >= total', 'chunk', () => ({ md5, index: 4, total: 4, data: Buffer.alloc(CHUNK) }), 'E_INDEX'],
    ['chunk: total mismatch', 'chunk', () => ({ md5, index: 3, total: 5, data: Buffer.alloc(10) }), 'E_INDEX'],
    ['chunk: wrong length for the last chunk', 'chunk', () => ({ md5, index: 3, total: 4, data: Buffer.alloc(11) }), 'E_CHUNK_SIZE'],
    ['chunk: data a string', 'chunk', () => ({ md5, index: 3, total: 4, data: 'x'.repeat(10) }), 'E_BAD_REQUEST'],
    ['chunk: index fractional', 'chunk', () => ({ md5, index: 2.5, total: 4, data: Buffer.alloc(10) }), 'E_BAD_REQUEST'],
    ['merge: unknown md5', 'merge', () => ({ md5: MD5 }), 'E_UNKNOWN_UPLOAD'],
    ['merge: chunks missing', 'merge', () => ({ md5 }), 'E_INCOMPLETE'],
    ['status: md5 an object', 'status', () => ({ md5: { $gt: '' } }), 'E_BAD_REQUEST'],
    ['abort: no payload', 'abort', () => undefined, 'E_BAD_REQUEST'],
    ['watch: md5 a number', 'watch', () => ({ md5: 5 }), 'E_BAD_REQUEST'],
  ];
  for (const [what, event, payload, code] of cases) {
    it(`${what} -> ${code}`, async () => {
      const before = await state(server);
      await expectCode(socket, event, payload(), code);
      expect(await state(server)).to.deep.equal(before);
      expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
    });
  }

  it('E_INCOMPLETE carries the missing ranges', async () => {
    const result = await expectCode(socket, 'merge', { md5 }, 'E_INCOMPLETE');
    if (!result.ok) expect(result.error.missing).to.deep.equal([[3, 4]]);
  });

  it('E_CHECKSUM: content that does not hash to the md5 is never stored, and the upload starts over', async () => {
    const claimed = md5Of(Buffer.from('something else entirely'));
    await ok(socket, 'init', { md5: claimed, size: 2 * CHUNK, name: 'forged.bin', chunkSize: CHUNK });
    await ok(socket, 'chunk', { md5: claimed, index: 0, total: 2, data: Buffer.alloc(CHUNK, 1) });
    await ok(socket, 'chunk', { md5: claimed, index: 1, total: 2, data: Buffer.alloc(CHUNK, 2) });
    await expectCode(socket, 'merge', { md5: claimed }, 'E_CHECKSUM');
    expect(await ok(socket, 'status', { md5: claimed })).to.deep.include({ status: 'partial', missing: [[0, 2]], next: 0 });
    const res = await fetch(`${server.url}/files/${claimed}`);
    expect(res.status).to.equal(404);
    expect(await readdir(storedShard(server.config.uploadDir, claimed)).catch(() => [])).to.deep.equal([]);
  });

  it('E_INTERNAL for a server-side failure, and the server keeps serving', async () => {
    const partial = join(server.config.uploadDir, '.partial');
    await rename(partial, `${partial}.away`);
    await writeFile(partial, 'not a directory');
    // nothing touches the disk before the first frame: the write is what fails
    expect(await ok(socket, 'init', { md5: MD5, size: 10, name: 'a' })).to.deep.include({ status: 'partial' });
    await expectCode(socket, 'chunk', { md5: MD5, index: 0, total: 1, data: Buffer.alloc(10) }, 'E_INTERNAL');
    await rm(partial);
    await rename(`${partial}.away`, partial);
    expect(await ok(socket, 'chunk', { md5: MD5, index: 0, total: 1, data: Buffer.alloc(10) })).to.deep.include({ stored: true });
    expect(await ok(socket, 'status', { md5 })).to.deep.include({ missing: [[3, 4]] });
  });

  it('ignores requests without an ack and unknown events, and answers extra arguments with E_BAD_REQUEST', async () => {
    const before = await state(server);
    socket.emit('init', { md5: MD5, size: 1, name: 'no-ack' } as never, undefined as never);
    (socket.emit as (ev: string, ...a: unknown[]) => void)('no-such-event', { md5: MD5 }, () => {});
    (socket.emit as (ev: string, ...a: unknown[]) => void)('init');
    const extra = await new Promise<{ ok: boolean; error?: { code: string } }>((resolve) =>
      (socket.emit as (ev: string, ...a: unknown[]) => void)('status', { md5 }, 'extra', resolve));
    expect(extra.error?.code).to.equal('E_BAD_REQUEST');
    expect(await ok(socket, 'status', { md5: MD5 })).to.deep.equal({ ok: true, status: 'none' });
    expect(await state(server)).to.deep.equal(before);
  });

  it('closes the connection that sends a frame above the largest frame; the server stays up', async () => {
    const victim = await connect(server.url);
    const closed = new Promise<string>((resolve) => victim.once('disconnect', resolve));
    victim.emit('chunk', { md5, index: 3, total: 4, data: Buffer.alloc(MAX_FRAME_BYTES + 1) } as never, () => {});
    expect(await closed).to.be.a('string');
    expect(MAX_FRAME_BYTES).to.be.greaterThan(MAX_FRAME_SIZE);
    expect(await ok(socket, 'status', { md5 })).to.deep.include({ status: 'partial', missing: [[3, 4]] });
    expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
  });
});

describe('partial upload expiry (PARTIAL_TTL)', () => {
  it('forgets a partial upload untouched for the TTL and deletes its temp data', async () => {
    const server = await startTestServer({ partialTtlMs: 400 });
    const socket = await connect(server.url);
    try {
      const data = Buffer.alloc(2 * CHUNK, 3);
      const md5 = md5Of(data);
      await ok(socket, 'init', { md5, size: data.length, name: 'old.bin', chunkSize: CHUNK });
      await ok(socket, 'chunk', { md5, index: 0, total: 2, data: data.subarray(0, CHUNK) });
      await eventually(async () => (await ok(socket, 'status', { md5 })).status === 'none', 10_000, 'expiry');
      expect(await readdir(join(server.config.uploadDir, '.partial'))).to.deep.equal([]);
      // a new init starts from scratch
      expect(await ok(socket, 'init', { md5, size: data.length, name: 'old.bin', chunkSize: CHUNK })).to.deep.include({ missing: [[0, 2]] });
    } finally {
      socket.disconnect();
      await server.stop();
    }
  });
  // An upload being worked on is kept however old it is: test/unit/expiry-admission.test.ts (a fake clock).
});

describe('access token (UPLOAD_TOKEN)', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    server = await startTestServer({ uploadToken: 's3cret' });
    dir = await tempDir();
  });
  after(async () => {
    await server.stop();
    await dir.remove();
  });

  it('refuses a socket.io connection without the right token with E_UNAUTHORIZED', async () => {
    for (const auth of [{}, { token: 'wrong' }, { token: 5 }]) {
      const err = await connect(server.url, auth).then(() => null, (e: { data?: { code?: string } }) => e);
      expect(err?.data?.code).to.equal('E_UNAUTHORIZED');
    }
    const socket = await connect(server.url, { token: 's3cret' });
    expect(await ok(socket, 'status', { md5: MD5 })).to.deep.equal({ ok: true, status: 'none' });
    socket.disconnect();
  });

  it('makes the client fail at once with E_UNAUTHORIZED, and upload with the token', async () => {
    const file = await randomFile(dir.path, 5000);
    const err = await upload(file.path, { url: server.url }).catch((e: { code: string }) => e);
    expect(err).to.have.property('code', 'E_UNAUTHORIZED');
    const result = await upload(file.path, { url: server.url, token: 's3cret' });
    expect(result.md5).to.equal(file.md5);
  });

  it('guards the HTTP file endpoints with Bearer, but not /healthz', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
    expect((await fetch(`${server.url}/files`)).status).to.equal(401);
    expect((await fetch(`${server.url}/files`, { headers: { authorization: 'Bearer nope' } })).status).to.equal(401);
    expect((await fetch(`${server.url}/files`, { headers: { authorization: 'Bearer s3cret' } })).status).to.equal(200);
  });
});

