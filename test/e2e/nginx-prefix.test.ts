import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { io } from 'socket.io-client';
import { upload } from '../../src/client/node.js';
import { DEFAULT_CHUNK_SIZE, MiB, PROTOCOL_VERSION, UPLOAD_NAMESPACE } from '../../src/protocol/index.js';
import { eventually, md5Of, randomFile, skipWithout, storedPath, tempDir } from '../support/fixtures.js';
import { nginxUnavailable, startNginx, type Nginx } from '../support/nginx.js';
import { request, startTestServer, type RawSocket, type TestServer } from '../support/server.js';

/**
 * The deployment recipe of docs/operations.md, run for real: Debian's nginx with deploy/nginx.conf, mounting
 * upwire under /uploads/ with the prefix stripped. What a prefix used to break (issue 11): the
 * client asked for /socket.io/ at the root, and the page loaded /assets/ and /files from the root.
 */
describe('behind nginx at /uploads/ (deploy/nginx.conf)', function () {
  this.timeout(60_000);
  let server: TestServer;
  let nginx: Nginx;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let file: Awaited<ReturnType<typeof randomFile>>;
  let mount: string;

  before(async function () {
    skipWithout(this, nginxUnavailable());
    // The default chunk size, so frames reach their largest size (1 MiB) through the proxy.
    [server, dir] = await Promise.all([startTestServer({ chunkSize: DEFAULT_CHUNK_SIZE }), tempDir()]);
    nginx = await startNginx(server.url);
    mount = `${nginx.url}/uploads`;
    file = await randomFile(dir.path, 6 * MiB + 12_345);
  });
  after(async () => {
    await nginx?.stop();
    await server?.stop();
    await dir?.remove();
  });

  it('the Node client uploads with url <nginx>/uploads, over a WebSocket through nginx, and the stored bytes are exact', async () => {
    const result = await upload(file.path, { url: mount });
    expect(result).to.include({ md5: file.md5, instant: false, bytesStored: file.data.length });
    const stored = await readFile(storedPath(server.config.uploadDir, file.md5));
    expect(md5Of(stored)).to.equal(file.md5);
    // The client offers only the websocket transport, so completing is proof enough; nginx's log
    // says it too: the handshake under the prefix was answered 101 by upwire itself (upstream 101),
    // and nothing fell back to polling. nginx logs a tunnel when it closes.
    const socketIo = await eventually(async () => {
      const lines = (await nginx.accessLog()).filter((line) => line.includes(' /uploads/socket.io/'));
      return lines.length > 0 ? lines : undefined;
    }, 5000, 'the WebSocket in the access log');
    expect(socketIo).to.have.length(1);
    expect(socketIo[0]).to.match(/^GET \/uploads\/socket\.io\/\?EIO=4&transport=websocket 101 101$/);
  });

  it('GET /uploads/ serves the page, whose assets and socket path resolve under the prefix', async () => {
    const redirect = await fetch(mount, { redirect: 'manual' });
    expect(redirect.status).to.equal(301);
    expect(redirect.headers.get('location')).to.equal('/uploads/');

    const page = await fetch(`${mount}/`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    const html = await page.text();
    const refs = [...html.matchAll(/\b(?:href|src)="([^"]+)"/g)].map((m) => m[1]!).filter((ref) => !ref.startsWith('data:'));
    expect(refs).to.include.members(['assets/style.css', 'assets/app.js']);
    for (const ref of refs) {
      expect(ref, 'an asset URL relative to the page').to.not.match(/^(\/|[a-z]+:)/i);
      const asset = await fetch(new URL(ref, `${mount}/`));
      expect(asset.status, ref).to.equal(200);
      expect((await asset.arrayBuffer()).byteLength, ref).to.be.above(0);
    }
    // The page finds its socket from a meta tag; a relative path resolves under the prefix.
    const meta = /<meta name="upwire-socket" content="([^"]*)">/.exec(html)?.[1];
    expect(meta, 'the upwire-socket meta tag').to.be.a('string');
    const told = JSON.parse(meta!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&amp;/g, '&')) as { socketPath: string; namespace: string };
    expect(new URL(told.socketPath, `${mount}/`).pathname).to.equal('/uploads/socket.io');
  });

  it('GET /uploads/files/<md5> downloads the exact bytes, whole and by range', async () => {
    const res = await fetch(`${mount}/files/${file.md5}`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('etag')).to.equal(`"${file.md5}"`);
    expect(md5Of(Buffer.from(await res.arrayBuffer()))).to.equal(file.md5);
    const part = await fetch(`${mount}/files/${file.md5}`, { headers: { range: 'bytes=4194300-4194399' } });
    expect(part.status).to.equal(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(file.data.subarray(4_194_300, 4_194_400))).to.equal(true);
    expect((await fetch(`${mount}/healthz`)).status).to.equal(200);
  });

  it("socket.io's default transports (long-polling, then the upgrade) work through nginx too", async () => {
    const socket: RawSocket = io(`${nginx.url}${UPLOAD_NAMESPACE}`, {
      path: '/uploads/socket.io', auth: { protocol: PROTOCOL_VERSION }, reconnection: false, forceNew: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const engine = socket.io.engine;
      // Without the upgrade headers the socket stays on polling: wait a while, not forever.
      if (engine.transport.name !== 'websocket') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5000);
          engine.once('upgrade', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      expect(engine.transport.name, 'the transport after the upgrade').to.equal('websocket');
      const answer = await request(socket, 'status', { md5: file.md5 });
      expect(answer).to.deep.include({ ok: true, status: 'complete' });
    } finally {
      socket.close();
    }
    const polls = (await nginx.accessLog()).filter((line) => line.includes('transport=polling'));
    expect(polls.length, 'long-polling requests through the prefix').to.be.above(0);
    for (const line of polls) expect(line).to.match(/ 200 200$/);
  });
});
