/*
 * Operations: /readyz against /healthz, the drain on stop (a download in flight finishes, new
 * writes get a retryable E_BUSY), and TRUST_PROXY's X-Forwarded-For.
 */
import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { get } from 'node:http';
import { io } from 'socket.io-client';
import { upload } from '../../src/client/node.js';
import { PROTOCOL_VERSION, UPLOAD_NAMESPACE } from '../../src/protocol/index.js';
import { clientAddress } from '../../src/server/access/client-address.js';
import { startEmbedded, type Embedded } from '../support/embedded.js';
import { md5Of, randomFile, sleep, tempDir } from '../support/fixtures.js';
import { connect, request, startTestServer, type TestServer } from '../support/server.js';

describe('operations: readiness, drain on stop, TRUST_PROXY', function () {
  this.timeout(60_000);
  let server: TestServer | Embedded | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await dir.remove();
  });

  it('/readyz checks the database and the disk; /healthz stays liveness', async () => {
    const test = (server = await startTestServer());
    const ready = await fetch(`${test.url}/readyz`);
    expect([ready.status, await ready.json()]).to.deep.equal([200, { ok: true, checks: { database: 'ok', disk: 'ok' } }]);
    await rm(test.config.uploadDir, { recursive: true, force: true }); // the volume went away
    const gone = await fetch(`${test.url}/readyz`);
    const body = await gone.json() as { ok: boolean; checks: { database: string; disk: string } };
    expect([gone.status, body.ok, body.checks.database]).to.deep.equal([503, false, 'ok']);
    expect(body.checks.disk).to.match(/ENOENT/);
    expect((await fetch(`${test.url}/healthz`)).status).to.equal(200);
  });

  it('close({ drainMs }) lets a download in flight finish and refuses new writes with a retryable E_BUSY', async () => {
    const test = (server = await startTestServer());
    const file = await randomFile(dir.path, 8 * 1024 * 1024);
    await upload(file.path, { url: test.url, hashCache: false });
    const socket = await connect(test.url);
    // A slow reader: 64 KiB every 20 ms, so the body (8 MiB) takes a few seconds.
    const received: Buffer[] = [];
    const downloaded = new Promise<Buffer>((resolve, reject) => {
      get(`${test.url}/files/${file.md5}`, (res) => {
        res.on('data', (piece: Buffer) => {
          received.push(piece);
          res.pause();
          setTimeout(() => res.resume(), 20);
        });
        res.on('end', () => resolve(Buffer.concat(received)));
        res.on('error', reject);
      }).on('error', reject);
    });
    await sleep(200);
    const closing = test.close({ drainMs: 20_000 });
    await sleep(100);
    const other = await randomFile(dir.path, 1000, 'late.bin');
    const init = await request(socket, 'init', { md5: other.md5, size: 1000, name: 'late.bin' });
    expect(!init.ok && [init.error.code, init.error.retryAfterMs]).to.deep.equal(['E_BUSY', 1000]);
    const body = await downloaded;
    expect(body.length).to.equal(file.data.length);
    expect(md5Of(body)).to.equal(file.md5);
    await closing;
    socket.close();
  });

  it('TRUST_PROXY: the address the hooks and caps see is X-Forwarded-For\'s hop before the proxies, and only then', async () => {
    expect(clientAddress({ 'x-forwarded-for': 'spoofed, 203.0.113.7' }, '10.0.0.2', 1)).to.equal('203.0.113.7');
    expect(clientAddress({ 'x-forwarded-for': 'spoofed, 203.0.113.7, 10.0.0.9' }, '10.0.0.2', 2)).to.equal('203.0.113.7');
    expect(clientAddress({ 'x-forwarded-for': '203.0.113.7' }, '10.0.0.2', 0)).to.equal('10.0.0.2');
    expect(clientAddress({}, '10.0.0.2', 1)).to.equal('10.0.0.2');

    for (const trustProxy of [1, 0]) {
      const seen: string[] = [];
      const embedded = (server = await startEmbedded({ trustProxy, hooks: { authorize: ({ address }) => (seen.push(address), { id: 'a', role: 'upload' }) } }));
      const socket = io(`${embedded.url}${UPLOAD_NAMESPACE}`, {
        transports: ['websocket'], reconnection: false, forceNew: true, auth: { protocol: PROTOCOL_VERSION }, extraHeaders: { 'x-forwarded-for': '198.51.100.4' },
      });
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
      socket.close();
      await fetch(`${embedded.url}/files`, { headers: { 'x-forwarded-for': '198.51.100.4' } });
      expect(seen, `trustProxy ${trustProxy}`).to.deep.equal(trustProxy ? ['198.51.100.4', '198.51.100.4'] : ['127.0.0.1', '127.0.0.1']);
      await embedded.stop();
    }
  });
});
