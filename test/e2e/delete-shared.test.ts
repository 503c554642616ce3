/*
 * Deleting on a server that is one store for everyone (the shared tokens, or none): who may delete
 * (DELETES), and `upwire delete` from the built CLI. A real server on port 0, LevelDB in a temp dir.
 */
import { expect } from 'chai';
import express from 'express';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteFile, upload, type UpwireError } from '../../src/client/node.js';
import type { ServerConfig } from '../../src/server/config/config.js';
import { randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { startEmbedded } from '../support/embedded.js';
import { CLI, startTestServer, type TestServer } from '../support/server.js';

interface Run { code: number; stdout: string; stderr: string }

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('delete on a server that is one store for everyone', function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await dir.remove();
  });

  const start = async (config: Partial<ServerConfig>) => (server = await startTestServer(config));
  const del = (md5: string, token?: string) => fetch(`${server!.url}/files/${md5}`, { method: 'DELETE', ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  const codeOf = async (res: Response) => ((await res.json()) as { error?: { code: string } }).error?.code;
  const listing = async (token?: string) => (await (await fetch(`${server!.url}/files`, token ? { headers: { authorization: `Bearer ${token}` } } : {})).json()) as { files: unknown[]; deletable: boolean };

  it('with UPLOAD_TOKEN: its holders delete any file (the store is shared); the watch token may not', async () => {
    await start({ uploadToken: 'up', watchToken: 'look' });
    const file = await randomFile(dir.path, 100_000);
    await upload(file.path, { url: server!.url, token: 'up', hashCache: false });
    expect((await listing('up')).deletable).to.equal(true);
    expect((await del(file.md5)).status).to.equal(401);
    expect((await del(file.md5, 'look')).status).to.equal(401);
    const refused = await deleteFile({ url: server!.url, token: 'look', md5: file.md5 }).catch((err: UpwireError) => err.code);
    expect(refused).to.equal('E_UNAUTHORIZED');
    expect(existsSync(storedPath(server!.config.uploadDir, file.md5))).to.equal(true);
    expect(await deleteFile({ url: server!.url, token: 'up', md5: file.md5 })).to.deep.equal({ md5: file.md5 });
    expect(existsSync(storedPath(server!.config.uploadDir, file.md5))).to.equal(false);
    expect((await listing('up')).files).to.deep.equal([]);
    expect(await codeOf(await del(file.md5, 'up'))).to.equal('E_NOT_FOUND');
  });

  it('without any token: refused (E_FORBIDDEN, 403) unless DELETES=open; the page is told (deletable: false)', async () => {
    await start({});
    const file = await randomFile(dir.path, 1000);
    await upload(file.path, { url: server!.url, hashCache: false });
    expect((await listing()).deletable).to.equal(false);
    const res = await del(file.md5);
    expect(res.status).to.equal(403);
    expect(await codeOf(res)).to.equal('E_FORBIDDEN');
    const overSocket = await deleteFile({ url: server!.url, md5: file.md5 }).catch((err: UpwireError) => err.code);
    expect(overSocket).to.equal('E_FORBIDDEN');
    // The same refusal for an md5 nobody stored: the refusal tells nothing about the file.
    expect(await codeOf(await del('0'.repeat(32)))).to.equal('E_FORBIDDEN');
    expect((await fetch(`${server!.url}/files/${file.md5}`)).status).to.equal(200);
    await server!.stop();

    await start({ deletes: 'open' });
    await upload(file.path, { url: server!.url, hashCache: false });
    expect((await listing()).deletable).to.equal(true);
    expect((await del(file.md5)).status).to.equal(200);
    expect((await fetch(`${server!.url}/files/${file.md5}`)).status).to.equal(404);
  });

  it('DELETES=off: no one deletes, token or not', async () => {
    await start({ uploadToken: 'up', deletes: 'off' });
    const file = await randomFile(dir.path, 1000);
    await upload(file.path, { url: server!.url, token: 'up', hashCache: false });
    expect((await listing('up')).deletable).to.equal(false);
    expect(await codeOf(await del(file.md5, 'up'))).to.equal('E_FORBIDDEN');
    expect((await fetch(`${server!.url}/files/${file.md5}`, { headers: { authorization: 'Bearer up' } })).status).to.equal(200);
  });

  it('DELETE under a basePath: node:http and Express 5 (app.use) delete at <base>/files/<md5>, and refuse an encoded slash', async () => {
    const embedded = await startEmbedded({ uploadToken: 'up' });
    const servers: Server[] = [];
    try {
      const handler = embedded.upwire.httpHandler({ basePath: '/uploads' });
      const app = express();
      app.use('/uploads', handler);
      for (const listener of [handler, app]) {
        const http = createServer(listener);
        servers.push(http);
        await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
        const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/uploads`;
        const file = await randomFile(dir.path, 2000 + servers.length);
        await upload(file.path, { url: embedded.url, token: 'up', hashCache: false });
        const auth = { authorization: 'Bearer up' };
        expect((await fetch(`${base}/files/..%2f..%2fx`, { method: 'DELETE', headers: auth })).status, 'an encoded slash').to.equal(400);
        const res = await fetch(`${base}/files/${file.md5}`, { method: 'DELETE', headers: auth });
        expect([res.status, await res.json()]).to.deep.equal([200, { md5: file.md5 }]);
        expect((await fetch(`${base}/files/${file.md5}`, { headers: auth })).status).to.equal(404);
        expect((await fetch(`${base}/files`, { method: 'DELETE', headers: auth })).status, 'the listing cannot be deleted').to.equal(405);
      }
    } finally {
      for (const http of servers) {
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
      }
      await embedded.stop();
    }
  });

  it('upwire delete: by path (hashed, into the hash cache) and by md5; exit 0, 1 when not found, 2 on a usage error; --help', async () => {
    await start({ uploadToken: 'up' });
    const a = await randomFile(dir.path, 200_000, 'a.bin');
    const b = await randomFile(dir.path, 3000, 'b.bin');
    for (const file of [a, b]) await upload(file.path, { url: server!.url, token: 'up', hashCache: false });
    const env = { XDG_CACHE_HOME: join(dir.path, 'cache'), UPLOAD_TOKEN: 'up' };

    const byPath = await run(['delete', a.path, '--url', server!.url], env);
    expect(byPath.code, byPath.stderr).to.equal(0);
    expect(byPath.stderr).to.include(`deleted ${a.path} (md5 ${a.md5})`);
    expect(JSON.parse(byPath.stdout)).to.deep.equal({ target: a.path, md5: a.md5 });
    expect(existsSync(storedPath(server!.config.uploadDir, a.md5))).to.equal(false);
    expect(await readFile(join(dir.path, 'cache', 'upwire', 'md5.json'), 'utf8'), 'the md5 is remembered').to.include(a.md5);

    const byMd5 = await run(['delete', b.md5.toUpperCase(), a.path, '--url', server!.url], env);
    expect(byMd5.code, 'a.bin is gone already').to.equal(1);
    expect(byMd5.stderr).to.include(`deleted ${b.md5.toUpperCase()}`);
    expect(byMd5.stderr).to.match(/failed .*a\.bin: no stored file with md5 [0-9a-f]{32} \[E_NOT_FOUND\]/);
    expect((await fetch(`${server!.url}/files/${b.md5}`, { headers: { authorization: 'Bearer up' } })).status).to.equal(404);

    const wrongToken = await run(['delete', b.md5, '--url', server!.url, '--token', 'nope'], env);
    expect(wrongToken.code).to.equal(1);
    expect(wrongToken.stderr).to.include('[E_UNAUTHORIZED]');
    const neither = await run(['delete', join(dir.path, 'missing.bin'), '--url', server!.url], env);
    expect(neither.code).to.equal(1);
    expect(neither.stderr).to.include('is neither a file nor an md5');
    expect((await run(['delete', '--url', server!.url], env)).code, 'nothing to delete').to.equal(2);
    expect((await run(['delete', b.md5, '--bogus'], env)).code).to.equal(2);
    const help = await run(['delete', '--help']);
    expect(help.code).to.equal(0);
    for (const option of ['--url', '--token', '--no-hash-cache', '--help']) expect(help.stdout).to.include(option);
    expect(help.stdout).to.include('(default: $UPWIRE_URL)');
    expect((await run(['--help'])).stdout).to.match(/^\s+delete\s/m);
  });
});
