import { expect } from 'chai';
import { upload } from '../../src/client/node.js';
import { eventually, randomFile, tempDir } from '../support/fixtures.js';
import { runCli, spawnCli } from '../support/client-cli.js';
import { startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

describe('client: upwire watch exits when it should, and says "connection lost" only when it was', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    server = await startTestServer({ chunkSize: CHUNK });
    dir = await tempDir();
  });
  afterEach(async () => {
    await server.stop();
    await dir.remove();
  });

  it('exits 0 when an upload watched by its UPPERCASE md5 completes, without a "connection lost" line', async () => {
    const file = await randomFile(dir.path, 20 * CHUNK, 'upper.bin');
    const watcher = spawnCli(['watch', '--url', server.url, '--md5', file.md5.toUpperCase()], { timeoutMs: 20_000 });
    await eventually(() => watcher.out.stdout.includes('snapshot'), 10_000, 'the watcher to start');
    await upload(file.path, { url: server.url });
    const exit = await watcher.exited;
    expect(exit, watcher.out.stdout + watcher.out.stderr).to.include({ code: 0, timedOut: false });
    expect(watcher.out.stdout).to.include(`complete ${file.md5} "upper.bin"`);
    expect(watcher.out.stdout).not.to.include('connection lost');
  });

  it('exits 0 at once for an md5 already stored, given in upper case, without a "connection lost" line', async () => {
    const file = await randomFile(dir.path, 3 * CHUNK, 'stored.bin');
    await upload(file.path, { url: server.url });
    const run = await runCli(['watch', '--url', server.url, '--md5', file.md5.toUpperCase()], { timeoutMs: 20_000 });
    expect(run, run.stdout + run.stderr).to.include({ code: 0, timedOut: false });
    expect(run.stdout).to.include(`complete ${file.md5}`);
    expect(run.stdout).not.to.include('connection lost');
  });

  it('refuses a malformed --md5 as a usage error (exit 2) before connecting anywhere', async () => {
    const run = await runCli(['watch', '--url', 'http://127.0.0.1:9', '--md5', 'not-an-md5'], { timeoutMs: 20_000 });
    expect(run, run.stderr).to.include({ code: 2, timedOut: false });
    expect(run.stderr).to.match(/--md5 .*32 hex digits/);
    expect(run.ms).to.be.below(5000);
  });

  it('says "connection lost" when the server goes away, and exits 0 on SIGINT without saying it again', async () => {
    const watcher = spawnCli(['watch', '--url', server.url], { timeoutMs: 20_000 });
    await eventually(() => watcher.out.stdout.includes('snapshot 0 upload(s)'), 10_000, 'the watcher to start');
    await server.stop();
    await eventually(() => watcher.out.stdout.includes('connection lost'), 10_000, 'the drop to be reported');
    watcher.child.kill('SIGINT');
    const exit = await watcher.exited;
    expect(exit).to.include({ code: 0, timedOut: false });
    expect(watcher.out.stdout.match(/connection lost/g)).to.have.length(1);
    expect(watcher.out.stdout).not.to.include('io client disconnect');
  });
});
