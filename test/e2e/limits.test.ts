import { expect } from 'chai';
import { io } from 'socket.io-client';
import { upload } from '../../src/client/node.js';
import { PROTOCOL_VERSION, UPLOAD_NAMESPACE } from '../../src/protocol/index.js';
import { eventually, randomFile, tempDir } from '../support/fixtures.js';
import { connect, ok, request, startTestServer } from '../support/server.js';

/** The test server's chunk size (see startTestServer). */
const CHUNK = 64 * 1024;

const md5 = (n: number) => n.toString(16).padStart(32, 'c');

describe('access and abuse limits', () => {
  it('answers an init flood beyond INIT_RATE with E_RATE_LIMIT and a retry hint, and serves on', async () => {
    const server = await startTestServer({ initRate: 10 });
    try {
      const socket = await connect(server.url);
      const answers = await Promise.all(Array.from({ length: 40 }, () => request(socket, 'init', { md5: md5(1), size: 10, name: 'x' })));
      const limited = answers.filter((a) => !a.ok && a.error.code === 'E_RATE_LIMIT');
      expect(answers.filter((a) => a.ok)).to.have.length(10); // the burst
      expect(limited).to.have.length(30);
      for (const a of limited) if (!a.ok) expect(a.error.retryAfterMs).to.be.within(1, 3000);
      socket.disconnect();
      // the client waits as told and goes on
      const dir = await tempDir();
      const files = await Promise.all(Array.from({ length: 25 }, (_, i) => randomFile(dir.path, 100 + i, `f${i}.bin`)));
      const results = await Promise.all(files.map((f) => upload(f.path, { url: server.url })));
      expect(results.map((r) => r.md5)).to.deep.equal(files.map((f) => f.md5));
      await dir.remove();
    } finally {
      await server.stop();
    }
  });

  it('caps the uploads one connection keeps open at once (MAX_UPLOADS_PER_CONNECTION)', async () => {
    const server = await startTestServer({ maxUploadsPerConnection: 2 });
    try {
      const socket = await connect(server.url);
      await ok(socket, 'init', { md5: md5(1), size: 10, name: 'a' });
      await ok(socket, 'init', { md5: md5(2), size: 10, name: 'b' });
      await ok(socket, 'init', { md5: md5(1), size: 10, name: 'a' }); // the same one again is fine
      const third = await request(socket, 'init', { md5: md5(3), size: 10, name: 'c' });
      expect(third.ok || third.error.code).to.equal('E_RATE_LIMIT');
      await ok(socket, 'abort', { md5: md5(2) });
      expect(await ok(socket, 'init', { md5: md5(3), size: 10, name: 'c' })).to.deep.include({ status: 'partial' });
      socket.disconnect();
    } finally {
      await server.stop();
    }
  });

  it('lets browsers in only from ALLOWED_ORIGINS (the server\'s own page too must be listed); clients without an Origin always', async () => {
    const server = await startTestServer({ allowedOrigins: ['https://uploads.example.com'] });
    const attempt = (origin?: string) => new Promise<string>((resolve) => {
      const socket = io(`${server.url}${UPLOAD_NAMESPACE}`, {
        transports: ['websocket'], reconnection: false, forceNew: true, auth: { protocol: PROTOCOL_VERSION }, ...(origin ? { extraHeaders: { origin } } : {}),
      });
      socket.once('connect', () => {
        socket.disconnect();
        resolve('connected');
      });
      socket.once('connect_error', () => resolve('refused'));
    });
    try {
      expect(await attempt('https://evil.example')).to.equal('refused');
      expect(await attempt('https://uploads.example.com')).to.equal('connected');
      // The Host header proves nothing (a DNS-rebinding page sends its own name as Origin and Host).
      expect(await attempt(server.url)).to.equal('refused');
      expect(await attempt()).to.equal('connected');
    } finally {
      await server.stop();
    }
  });

  it('drops a connection idle for IDLE_TIMEOUT, but not a watcher', async () => {
    const server = await startTestServer({ idleTimeoutMs: 300 });
    try {
      const idle = await connect(server.url);
      const watcher = await connect(server.url);
      await ok(watcher, 'watch', {});
      let dropped = false;
      idle.once('disconnect', () => (dropped = true));
      await eventually(() => dropped, 5000, 'the idle connection to be dropped');
      expect(watcher.connected).to.equal(true);
      watcher.disconnect();
    } finally {
      await server.stop();
    }
  });

  it('drops a sender too slow to finish one request within IDLE_TIMEOUT (a trickled frame)', async () => {
    const server = await startTestServer({ idleTimeoutMs: 400 });
    try {
      const slow = await connect(server.url);
      const tcp = (slow.io.engine.transport as unknown as { ws: { _socket: import('node:net').Socket } }).ws._socket;
      // a masked binary WebSocket frame announcing 1 MiB, then a byte every 100 ms: never complete
      const header = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
      tcp.write(header);
      const trickle = setInterval(() => tcp.writable && tcp.write(Buffer.from([0x42])), 100);
      const closed = new Promise<void>((resolve) => tcp.once('close', () => resolve()));
      await closed;
      clearInterval(trickle);
      expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
    } finally {
      await server.stop();
    }
  });

  it('refuses a new upload that does not fit beside what the uploads receiving bytes still need', async () => {
    const server = await startTestServer();
    try {
      const socket = await connect(server.url);
      const { statfs } = await import('node:fs/promises');
      const stats = await statfs(server.config.uploadDir);
      const free = stats.bavail * stats.bsize;
      const half = Math.floor((free * 0.6) / CHUNK) * CHUNK;
      const first = await request(socket, 'init', { md5: md5(7), size: half, name: 'big-1', chunkSize: CHUNK });
      expect(first.ok).to.equal(true);
      // An init alone reserves nothing (one idle init must not block everyone); bytes arriving do.
      await ok(socket, 'chunk', { md5: md5(7), index: 0, total: half / CHUNK, data: Buffer.alloc(CHUNK) });
      const second = await request(socket, 'init', { md5: md5(8), size: half, name: 'big-2' });
      expect(second.ok || second.error.code).to.equal('E_NO_SPACE');
      await ok(socket, 'abort', { md5: md5(7) });
      socket.disconnect();
    } finally {
      await server.stop();
    }
  });
});
