/*
 * The HTTP side mounted under a basePath, as an attacker reaches it: request paths are read as sent
 * (`//evil.example/files` is not a host, `..` and `%2e%2e` are not resolved) and refused with 400
 * inside the mount; /readyz tells anonymous callers ready or not and nothing more (its checks' text
 * names paths); /metrics, the whole server's numbers, is not for a tenant. On node:http with
 * httpHandler({ basePath: '/uploads' }) and on Express with app.use('/uploads', …).
 */
import { expect } from 'chai';
import express from 'express';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { upload } from '../../src/client/node.js';
import { Access } from '../../src/server/access/access.js';
import { FileSystemBytes } from '../../src/server/bytes/file-system.js';
import { DEFAULTS } from '../../src/server/config/config.js';
import { httpHandler, type HttpHandler } from '../../src/server/http/handler.js';
import { Metrics } from '../../src/server/observe/metrics.js';
import { MemoryStores } from '../../src/server/index.js';
import { startEmbedded, userTokens, type Embedded } from '../support/embedded.js';
import { randomFile, tempDir } from '../support/fixtures.js';

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A GET with the path exactly as given: fetch() and `new URL` would normalise it before sending. */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    request({ host: hostname, port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (piece: string) => (body += piece));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    }).on('error', reject).end();
  });
}

/** An HTTP server on port 0 running `handle`. */
async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function close(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Paths that the old `new URL(path, base)` turned into /uploads/files (the listing) or / (the page). */
const ATTACKS = [
  '/uploads//evil.example/files', // `//x` read as an authority: pathname /files
  '/uploads/./files',
  '/uploads/%2e%2e/files',
  '/uploads/%2E/files',
  '/uploads/files/%2e%2e', // resolved to / (the page)
  '/uploads/files/..%2f..%2fx',
  '/uploads/files%5c..%5c',
  '/uploads/\\evil.example/files', // a backslash is a slash to the URL parser: //evil.example again
];

describe('HTTP under a basePath: request paths as sent', function () {
  this.timeout(30_000);
  let embedded: Embedded;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let md5: string;
  const hosts: { name: string; url: string; server: Server; outside: (reply: Reply) => void }[] = [];
  before(async () => {
    embedded = await startEmbedded();
    dir = await tempDir();
    const file = await randomFile(dir.path, 10_000);
    md5 = (await upload(file.path, { url: embedded.url, hashCache: false })).file.md5;
    const handler = embedded.upwire.httpHandler({ basePath: '/uploads' });
    const plain = await serve(handler);
    hosts.push({ name: 'node:http', ...plain, outside: (reply) => expect([reply.status, JSON.parse(reply.body).error.code]).to.deep.equal([404, 'E_NOT_FOUND']) });
    const app = express();
    app.use('/uploads', handler);
    app.use((_req, res) => void res.status(404).send('the app has no such page'));
    const viaExpress = await serve(app);
    hosts.push({ name: 'Express 5', ...viaExpress, outside: (reply) => expect([reply.status, reply.body]).to.deep.equal([404, 'the app has no such page']) });
  });
  after(async () => {
    for (const host of hosts.splice(0)) await close(host.server);
    await embedded.stop();
    await dir.remove();
  });

  it('serves the listing, the redirect and the page at their own paths (the control)', async () => {
    for (const host of hosts) {
      const listing = await rawGet(host.url, '/uploads/files');
      expect(listing.status, host.name).to.equal(200);
      expect(listing.body, host.name).to.include(md5);
      const redirect = await rawGet(host.url, '/uploads?x=1');
      expect([redirect.status, redirect.headers.location], host.name).to.deep.equal([308, '/uploads/?x=1']);
      expect((await rawGet(host.url, '/uploads/healthz')).status, host.name).to.equal(200);
      host.outside(await rawGet(host.url, '/elsewhere/files'));
    }
  });

  for (const path of ATTACKS) {
    it(`refuses ${path} with 400 E_BAD_REQUEST instead of normalising it`, async () => {
      for (const host of hosts) {
        const reply = await rawGet(host.url, path);
        expect(reply.status, `${host.name}: ${reply.body}`).to.equal(400);
        const { error } = JSON.parse(reply.body) as { error: { code: string; message: string } };
        expect(error.code, host.name).to.equal('E_BAD_REQUEST');
        // Refused as a path, not (for /files/…) as a string that is not an md5.
        expect(error.message, host.name).to.match(/request path/);
        expect(reply.body, host.name).not.to.include(md5);
      }
    });
  }

  it('as middleware at the root of an Express app, hands a path it refuses to the app (it may be the app\'s)', async () => {
    const app = express();
    app.use(embedded.upwire.httpHandler());
    app.use((req, res) => void res.status(404).send(`the app: ${req.url}`));
    const root = await serve(app);
    try {
      expect((await rawGet(root.url, '/files')).body).to.include(md5);
      for (const path of ['//evil.example/files', '/./files', '/x/%2e%2e/files']) {
        expect(await rawGet(root.url, path).then((r) => [r.status, r.body]), path).to.deep.equal([404, `the app: ${path}`]);
      }
    } finally {
      await close(root.server);
    }
  });

  it('leaves a path outside the mount alone, however it is written', async () => {
    for (const host of hosts) {
      for (const path of ['/elsewhere/../uploads/files', '//uploads/files', '/upl%6fads/files']) {
        const reply = await rawGet(host.url, path);
        expect(reply.body, `${host.name} ${path}`).not.to.include(md5);
        host.outside(reply);
      }
    }
  });
});

describe('/readyz and /metrics: what an anonymous caller and a tenant may read', function () {
  this.timeout(30_000);
  let embedded: Embedded | undefined;
  let mounted: Server | undefined;
  afterEach(async () => {
    await close(mounted);
    mounted = undefined;
    await embedded?.stop();
    embedded = undefined;
  });

  /** upwire with `options`, its HTTP side under /uploads on a node:http server of its own. */
  async function start(options: Parameters<typeof startEmbedded>[0]): Promise<string> {
    embedded = await startEmbedded(options);
    const { url, server } = await serve(embedded.upwire.httpHandler({ basePath: '/uploads' }));
    mounted = server;
    return url;
  }

  const readyz = async (url: string, token?: string) => {
    const reply = await rawGet(url, '/uploads/readyz', token === undefined ? {} : { authorization: `Bearer ${token}` });
    return { status: reply.status, body: JSON.parse(reply.body) as { ok: boolean; checks?: { database: string; disk: string } }, text: reply.body };
  };

  it('shared tokens: anyone gets { ok }, the checks and their text only with a token, also when the disk check fails', async () => {
    const url = await start({ uploadToken: 'up', watchToken: 'look' });
    expect(await readyz(url)).to.deep.include({ status: 200, body: { ok: true } });
    expect((await readyz(url, 'look')).body).to.deep.equal({ ok: true, checks: { database: 'ok', disk: 'ok' } });
    await rm(embedded!.uploadDir, { recursive: true, force: true }); // the volume went away: a real failure
    for (const token of [undefined, 'wrong']) {
      const anonymous = await readyz(url, token);
      expect([anonymous.status, anonymous.body], anonymous.text).to.deep.equal([503, { ok: false }]);
      expect(anonymous.text).not.to.include(embedded!.uploadDir);
    }
    for (const token of ['look', 'up']) {
      const told = await readyz(url, token);
      expect([told.status, told.body.ok, told.body.checks?.database]).to.deep.equal([503, false, 'ok']);
      expect(told.body.checks?.disk).to.match(/ENOENT/).and.include(embedded!.uploadDir);
    }
  });

  it('an authorize hook: the checks only for the watch role; an upload principal is a tenant and gets { ok }', async () => {
    const url = await start({ hooks: { authorize: userTokens } });
    await rm(embedded!.uploadDir, { recursive: true, force: true });
    for (const token of [undefined, 'user:alice', 'nonsense']) {
      const reply = await readyz(url, token);
      expect([reply.status, reply.body], `${token}: ${reply.text}`).to.deep.equal([503, { ok: false }]);
    }
    const watcher = await readyz(url, 'watch:ops');
    expect([watcher.status, watcher.body.checks?.database]).to.deep.equal([503, 'ok']);
    expect(watcher.body.checks?.disk).to.include(embedded!.uploadDir);
  });

  it('an authorize hook: /metrics is 401 without credentials, 403 for an upload principal, 200 for the watch role', async () => {
    const url = await start({ hooks: { authorize: userTokens } });
    const metrics = (token?: string) => rawGet(url, '/uploads/metrics', token === undefined ? {} : { authorization: `Bearer ${token}` });
    expect((await metrics()).status).to.equal(401);
    const tenant = await metrics('user:alice');
    expect([tenant.status, JSON.parse(tenant.body).error.code], tenant.body).to.deep.equal([403, 'E_FORBIDDEN']);
    expect(tenant.body).not.to.include('upwire_');
    const watcher = await metrics('watch:ops');
    expect(watcher.status).to.equal(200);
    expect(watcher.body).to.match(/^upwire_received_bytes_total /m);
  });

  it('shared tokens: /metrics for the upload and the watch token, 401 without one', async () => {
    const url = await start({ uploadToken: 'up', watchToken: 'look' });
    const metrics = (token?: string) => rawGet(url, '/uploads/metrics', token === undefined ? {} : { authorization: `Bearer ${token}` });
    expect((await metrics()).status).to.equal(401);
    expect((await metrics('up')).status).to.equal(200);
    expect((await metrics('look')).status).to.equal(200);
  });
});

describe('/readyz: a failing check is logged once per new failure, not once per probe', function () {
  this.timeout(30_000);
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let bytes: FileSystemBytes;
  let server: Server | undefined;
  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    await close(server);
    server = undefined;
    await bytes.close();
    await dir.remove();
  });

  it('one warning when the disk check starts failing, none while it keeps failing, one again after a recovery', async () => {
    const uploadDir = join(dir.path, 'uploads');
    bytes = new FileSystemBytes(uploadDir);
    await bytes.open();
    const logged: [string, Record<string, unknown>][] = [];
    const handler: HttpHandler = httpHandler({
      files: new MemoryStores(), bytes, access: new Access({ ...DEFAULTS, host: '127.0.0.1' }, undefined),
      metrics: new Metrics(() => 0, { held: 0, peak: 0, pauses: 0, pausedNow: 0 }, () => 0), sendTimeoutMs: 10_000,
      storedGone: async () => {}, page: () => ({ socketPath: 'socket.io', namespace: '/upload' }), trustProxy: 0, downloads: 'proxy',
      log: (message, details) => logged.push([message, details]),
      hold: () => () => {}, remove: () => Promise.reject(new Error('no delete in this test')),
    });
    const started = await serve(handler);
    server = started.server;
    const probe = async () => (await rawGet(started.url, '/readyz')).status;
    for (let i = 0; i < 3; i++) expect(await probe()).to.equal(200);
    expect(logged).to.deep.equal([]);
    await rm(uploadDir, { recursive: true, force: true });
    for (let i = 0; i < 20; i++) expect(await probe()).to.equal(503);
    expect(logged).to.have.length(1);
    expect(logged[0]![1]).to.include({ database: 'ok' });
    expect(logged[0]![1].disk).to.match(/ENOENT/);
    await mkdir(uploadDir);
    expect(await probe()).to.equal(200);
    await rm(uploadDir, { recursive: true, force: true });
    for (let i = 0; i < 5; i++) expect(await probe()).to.equal(503);
    expect(logged).to.have.length(2);
  });
});
