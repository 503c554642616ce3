import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createUploader, upload } from '../../src/client/node.js';
import { MAX_FRAME_SIZE, MiB, type ChunkAck, type Result } from '../../src/protocol/index.js';
import { READ_BYTES } from '../../src/server/socket/intake.js';
import { md5Of, randomFile, tempDir } from '../support/fixtures.js';
import { connect, ok, startTestServer, type TestServer } from '../support/server.js';

async function metrics(server: TestServer): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const at = l.lastIndexOf(' ');
    return [l.slice(0, at), Number(l.slice(at + 1))];
  }));
}

describe('a client that ignores its window', function () {
  this.timeout(60_000);
  const LIMIT = 8 * MiB;
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    dir = await tempDir();
    server = await startTestServer({ maxBufferedBytes: LIMIT, chunkSize: 16 * MiB });
  });
  afterEach(async () => {
    await server.stop();
    await dir.remove();
  });

  it('sends 64 frames without waiting: the server holds at most its limit, by not reading the socket rather than refusing frames, and serves others meanwhile', async () => {
    const data = randomBytes(64 * MiB);
    const md5 = md5Of(data);
    const hostile = await connect(server.url);
    await ok(hostile, 'init', { md5, size: data.length, name: 'flood.bin', chunkSize: 16 * MiB });
    // Every frame of four chunks at once, in order: frames of one chunk are written one after another.
    const answers: Promise<Result<ChunkAck>>[] = [];
    for (let offset = 0; offset < data.length; offset += MAX_FRAME_SIZE) {
      const index = Math.floor(offset / (16 * MiB));
      const frame = { md5, index, total: 4, offset: offset - index * 16 * MiB, data: data.subarray(offset, offset + MAX_FRAME_SIZE) };
      answers.push(new Promise((resolve) => hostile.emit('chunk', frame as never, resolve as never)));
    }
    // Meanwhile an honest client uploads over its own connection.
    const honest = await randomFile(dir.path, 3 * MiB + 17);
    const other = await upload(honest.path, { url: server.url });
    expect(other.file.md5).to.equal(honest.md5);

    const results = await Promise.all(answers);
    const busy = results.filter((r) => !r.ok && r.error.code === 'E_BUSY');
    const others = results.filter((r) => !r.ok && r.error.code !== 'E_BUSY');
    expect(others.map((r) => !r.ok && r.error.code)).to.deep.equal([]);
    // a frame is read only when there is room for it: none is read and then thrown away (issue 18)
    expect(busy).to.have.length(0);
    expect(hostile.connected, 'the flooding connection is throttled, not dropped').to.equal(true);
    const after = await metrics(server);
    console.log(`      64 frames of 1 MiB at once: ${busy.length} refused with E_BUSY, peak held ${(after.get('upwire_buffered_bytes_peak')! / MiB).toFixed(1)} MiB, ${after.get('upwire_connection_pauses_total')} pauses`);
    // held: read and not yet admitted as well as admitted and not yet written; beyond the limit, one
    // socket read for each of the two connections (src/server/socket/intake.ts)
    expect(after.get('upwire_buffered_bytes_peak')).to.be.at.most(LIMIT + 2 * READ_BYTES);
    // the bound was met, not just never approached: the flood was paused
    expect(after.get('upwire_connection_pauses_total')).to.be.at.least(1);
    expect(after.get('upwire_buffered_bytes')).to.equal(0);
    hostile.disconnect();
  });
});

describe('a saturated server says so', function () {
  this.timeout(60_000);

  it('pushes back on frames (TCP) and answers E_BUSY with retryAfterMs at its caps, which honest clients wait out, and every upload completes', async () => {
    const dir = await tempDir();
    // Room for two frames in all, and for 12 partial uploads: 24 clients at once cannot all be served at once.
    const server = await startTestServer({ maxBufferedBytes: 2 * MAX_FRAME_SIZE, maxUploads: 12, chunkSize: 4 * MiB });
    try {
      const files = await Promise.all(Array.from({ length: 24 }, (_, i) => randomFile(dir.path, 6 * MiB + i, `busy-${i}.bin`)));
      const waits: { code: string; message: string; delayMs: number; retryAfterMs: unknown }[] = [];
      const results = await Promise.all(files.map(async (file) => {
        const uploader = await createUploader(file.path, { url: server.url });
        uploader.on('retry', ({ error, delayMs }) => waits.push({ code: error.code, message: error.message, delayMs, retryAfterMs: error.details.retryAfterMs }));
        return uploader.start();
      }));
      expect(results.map((r) => r.file.md5)).to.deep.equal(files.map((f) => f.md5));
      const busy = waits.filter((w) => w.code === 'E_BUSY');
      console.log(`      24 clients, 2 MiB of room: ${busy.length} E_BUSY answers waited out, ${waits.length - busy.length} other retries`);
      expect(busy.length).to.be.at.least(1);
      for (const wait of busy) expect(wait.delayMs).to.be.at.least(wait.retryAfterMs as number);
      // E_BUSY came from MAX_UPLOADS only: the frames were paused, never refused
      expect(busy.filter((wait) => !/partial uploads/.test(wait.message))).to.deep.equal([]);
    } finally {
      await server.stop();
      await dir.remove();
    }
  });
});
