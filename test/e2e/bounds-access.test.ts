/*
 * Issue 10, findings 6, 7, 8, 12 and 13: squatting an md5, the log, DNS rebinding, stored files
 * that vanish, and the operator's rough edges. The server runs as a process of its own.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { upload } from '../../src/client/node.js';
import { MiB, PROTOCOL_VERSION, UPLOAD_NAMESPACE } from '../../src/protocol/index.js';
import { randomFile, sleep, storedPath, tempDir } from '../support/fixtures.js';
import { CLI, connect, exited, ok, request, spawnServer } from '../support/server.js';

const run = promisify(execFile);
type Spawned = Awaited<ReturnType<typeof spawnServer>>;

/** A raw HTTP GET with the headers a test wants (fetch will not send another Host). */
function get(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whether a socket.io connection with these headers is let in. */
async function socketLetIn(url: string, extraHeaders: Record<string, string>, token?: string): Promise<boolean> {
  const socket = io(`${url}${UPLOAD_NAMESPACE}`, { transports: ['websocket'], extraHeaders, reconnection: false, forceNew: true, auth: token ? { token, protocol: PROTOCOL_VERSION } : { protocol: PROTOCOL_VERSION } });
  try {
    return await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('connect_error', () => resolve(false));
    });
  } finally {
    socket.disconnect();
  }
}

describe('access and operations (issue 10)', function () {
  this.timeout(60_000);
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: Spawned | undefined;
  const dirs = () => ({ uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') });
  const start = async (env: Record<string, string> = {}) => {
    server = await spawnServer(dirs(), { FSYNC: 'off', ...env });
    let log = '';
    server.child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    Object.defineProperty(server, 'log', { get: () => log });
    return server;
  };
  const stop = async () => {
    if (!server) return;
    server.child.kill('SIGTERM');
    await exited(server.child);
    server = undefined;
  };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await stop();
    await dir.remove();
  });

  it('6. an init with the wrong size does not lock out the true one', async () => {
    const s = await start({ LOG_LEVEL: 'warn' });
    const file = await randomFile(dir.path, 3 * MiB);
    const squatter = await connect(s.url);
    // nothing sent after the wrong size: the true size takes over at once
    await ok(squatter, 'init', { md5: file.md5, size: 1, name: 'squat' });
    expect((await upload(file.path, { url: s.url })).file.md5).to.equal(file.md5);
    // a squatter that sends bytes holds for a while at most, and is told so
    const other = await randomFile(dir.path, 2 * MiB, 'other.bin');
    await ok(squatter, 'init', { md5: other.md5, size: 64 * 1024, name: 'squat', chunkSize: 64 * 1024 });
    await ok(squatter, 'chunk', { md5: other.md5, index: 0, total: 1, offset: 0, data: Buffer.alloc(16 * 1024) });
    const honest = await connect(s.url);
    const answer = await request(honest, 'init', { md5: other.md5, size: other.data.length, name: 'other.bin' });
    expect(answer.ok).to.equal(false);
    if (answer.ok) return;
    expect(answer.error.code).to.equal('E_CONFLICT');
    expect(answer.error.retryAfterMs).to.be.within(1, 60_000);
    squatter.disconnect();
    honest.disconnect();
  });

  it('7. refused requests cannot fill the log: fields are logged only once validated, and refusals are rate-limited', async () => {
    const s = await start();
    const socket = await connect(s.url);
    const huge = 'x'.repeat(1024 * 1024 - 256);
    for (let i = 0; i < 4; i++) await request(socket, 'status', { md5: huge });
    for (let i = 0; i < 500; i++) await request(socket, 'status', { md5: `bad-${i}` });
    // Refusals beyond the bucket (20, then 5 a second) are counted into the next line logged, so one
    // more, once a token has come back (200 ms at 5 a second), is logged with the count: the 504
    // above may all fit into less time than that, and then no line after the first 20 says so.
    await sleep(300);
    await request(socket, 'status', { md5: 'bad-last' });
    socket.disconnect();
    // Every line the server wrote is in once it has exited and its stdout is closed.
    const closed = new Promise((resolve) => s.child.once('close', resolve));
    await stop();
    await closed;
    const log = (s as unknown as { log: string }).log;
    console.log(`      4 requests with a 1 MiB md5 and 501 more refused: ${log.length} bytes of log`);
    expect(log.length).to.be.below(32 * 1024); // the review saw 63 MB for 4 requests of 15 MiB
    expect(log).to.not.include('x'.repeat(100));
    const refusals = log.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { event?: string; md5Given?: string; refusalsNotLogged?: number })
      .filter((line) => line.event === 'status');
    // Each of the 505 refusals is either logged or counted in a later line, and the last one is logged.
    // (Some are counted: 505 at 5 a second after the first 20 would take 97 s, beyond this test's timeout.)
    expect(refusals.reduce((sum, line) => sum + 1 + (line.refusalsNotLogged ?? 0), 0)).to.equal(505);
    expect(refusals.at(-1)).to.include({ md5Given: 'bad-last' });
    expect(refusals.length).to.be.below(505);
  });

  it('8. DNS rebinding: only the listed origins, and without a token only the server\'s own host names', async () => {
    const s = await start({ ALLOWED_ORIGINS: 'https://uploads.example.com', LOG_LEVEL: 'warn' });
    const port = new URL(s.url).port;
    const rebound = { Origin: `http://rebind.evil:${port}`, Host: `rebind.evil:${port}` };
    expect(await socketLetIn(s.url, rebound), 'a rebinding page').to.equal(false);
    expect(await socketLetIn(s.url, { Origin: `http://rebind.evil:${port}` }), 'an origin not listed, with the right Host').to.equal(false);
    expect(await socketLetIn(s.url, { Origin: 'https://uploads.example.com' }), 'a listed origin').to.equal(true);
    expect(await socketLetIn(s.url, {}), 'no origin (not a browser)').to.equal(true);
    expect(await get(`${s.url}/files`, { Host: `rebind.evil:${port}` })).to.equal(421);
    expect(await get(`${s.url}/files`, {})).to.equal(200);
    expect(await get(`${s.url}/healthz`, { Host: `rebind.evil:${port}` })).to.equal(200);
    await stop();
    // with a token, the token guards: any host name may be used
    const guarded = await start({ UPLOAD_TOKEN: 'secret', LOG_LEVEL: 'warn' });
    expect(await socketLetIn(guarded.url, { Host: `uploads.example.com:${port}` }, 'secret')).to.equal(true);
    await stop();
    // ALLOWED_HOSTS names them explicitly
    const named = await start({ ALLOWED_HOSTS: 'uploads.example.com', LOG_LEVEL: 'warn' });
    expect(await socketLetIn(named.url, { Host: 'uploads.example.com' })).to.equal(true);
    expect(await socketLetIn(named.url, {})).to.equal(false); // 127.0.0.1 is not listed
  });

  it('12. a stored file that has gone missing is not reported as present, and is taken again', async () => {
    const s = await start({ LOG_LEVEL: 'warn' });
    const file = await randomFile(dir.path, 2 * MiB);
    await upload(file.path, { url: s.url });
    const stored = storedPath(dirs().uploadDir, file.md5);
    await rm(stored);
    expect((await fetch(`${s.url}/files/${file.md5}`)).status).to.equal(404); // was 500
    const again = await upload(file.path, { url: s.url });
    expect(again.instant).to.equal(false);
    expect((await readFile(stored)).equals(file.data)).to.equal(true);
    // gone while the server was down: the record is dropped at start
    await stop();
    await rm(stored);
    const restarted = await start({ LOG_LEVEL: 'warn' });
    const listed = (await (await fetch(`${restarted.url}/files`)).json()) as { files: unknown[] };
    expect(listed.files).to.deep.equal([]);
    expect((await upload(file.path, { url: restarted.url })).instant).to.equal(false);
  });

  it('13a. a bad setting or a port in use is one line on stderr and exit 2', async () => {
    for (const args of [['serve', '--chunk-size', 'abc'], ['serve', '--allowed-hosts', 'a b']]) {
      const result = await run(process.execPath, [CLI, ...args]).then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
      expect(result.code, args.join(' ')).to.equal(2);
      expect(result.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
    }
    const s = await start({ LOG_LEVEL: 'warn' });
    const port = new URL(s.url).port;
    const busy = await run(process.execPath, [CLI, 'serve', '--port', port, '--upload-dir', join(dir.path, 'u2'), '--db-dir', join(dir.path, 'd2')])
      .then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
    expect(busy.code).to.equal(2);
    expect(busy.stderr.trim()).to.match(/^upwire: cannot listen on 127\.0\.0\.1:\d+: the port is in use$/);
  });

  it('13b. temp files on another file system than the store: refused at start with one line', async function () {
    const partial = join(dirs().uploadDir, '.partial');
    await mkdir(partial, { recursive: true });
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', partial]);
    } catch (err) {
      console.log(`      skipped: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`);
      return this.skip();
    }
    try {
      const result = await run(process.execPath, [CLI, 'serve', '--port', '0', '--upload-dir', dirs().uploadDir, '--db-dir', dirs().dbDir])
        .then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
      expect(result.code).to.equal(2);
      expect(result.stderr.trim()).to.match(/^upwire: UPLOAD_DIR: .*\.partial is on another file system/);
    } finally {
      await run('umount', ['-l', partial]); // lazily: a server that did not refuse may still hold it
    }
  });

  it('13c. watching is capped: rooms per connection, and watching connections in all', async () => {
    const s = await start({ MAX_WATCHERS: '2', LOG_LEVEL: 'warn' });
    const a = await connect(s.url);
    for (let i = 0; i < 64; i++) await ok(a, 'watch', { md5: i.toString(16).padStart(32, '0') });
    const more = await request(a, 'watch', { md5: 'f'.repeat(32) });
    expect(more.ok || more.error.code).to.equal('E_RATE_LIMIT');
    const b = await connect(s.url);
    await ok(b, 'watch', {});
    const c = await connect(s.url);
    const third = await request(c, 'watch', {});
    expect(third.ok || third.error.code).to.equal('E_BUSY');
    b.disconnect();
    await sleep(200);
    await ok(c, 'watch', {}); // a place came free
    for (const socket of [a, c]) socket.disconnect();
    expect((await stat(dirs().dbDir)).isDirectory()).to.equal(true);
  });
});
