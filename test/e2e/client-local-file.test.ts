import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploader } from '../../src/client/node.js';
import { MiB } from '../../src/protocol/index.js';
import { eventually, randomFile, sleep, tempDir } from '../support/fixtures.js';
import { runCli, spawnCli } from '../support/client-cli.js';
import { NEVER, partial, startFakeServer, stored, type FakeServer } from '../support/client-fake-server.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** The one `failed …` line of a run, and that there is only one line on stderr. */
function onlyLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).to.have.length(1);
  return lines[0]!;
}

describe('client: what upwire upload opens, and Ctrl-C in every phase', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let fake: FakeServer | undefined;
  beforeEach(async () => {
    server = await startTestServer();
    dir = await tempDir();
  });
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
    await server.stop();
    await dir.remove();
  });

  it('fails at once with E_FILE and exit 1 on a FIFO, instead of waiting for a writer', async () => {
    const fifo = join(dir.path, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const run = await runCli(['upload', fifo, '--url', server.url], { timeoutMs: 10_000 });
    expect(run, run.stderr).to.include({ code: 1, timedOut: false });
    expect(run.ms).to.be.below(5000);
    expect(onlyLine(run.stderr)).to.match(/^failed .*pipe: .*not a regular file \[E_FILE\]$/);
  });

  it('fails at once with E_FILE and exit 1 on a directory and on a device', async () => {
    for (const path of [dir.path, '/dev/zero']) {
      const run = await runCli(['upload', path, '--url', server.url], { timeoutMs: 10_000 });
      expect(run, run.stderr).to.include({ code: 1, timedOut: false });
      expect(onlyLine(run.stderr)).to.match(/^failed .*: .*not a regular file \[E_FILE\]$/);
    }
  });

  it('a Ctrl-C that came while the file was being opened (the signal aborted before the uploader existed) still stops it', async () => {
    const file = await randomFile(dir.path, 64 * 1024, 'early.bin');
    const controller = new AbortController();
    const opening = createUploader(file.path, { url: server.url, signal: controller.signal });
    controller.abort();
    const err = await (await opening).start().then(() => undefined, (e: Error) => e);
    expect(err).to.have.property('code', 'E_ABORTED');
    expect((await fetch(`${server.url}/files/${file.md5}`)).status).to.equal(404);
  });

  it('a Ctrl-C while hashing a 512 MiB file stops it promptly, says how to resume, exit 130, and in a pipe draws nothing after that line', async () => {
    const big = join(dir.path, 'big.bin');
    await writeFile(big, '');
    await truncate(big, 512 * MiB); // sparse: costs no disk, still 512 MiB to hash
    const cli = spawnCli(['upload', big, '--url', server.url], { timeoutMs: 30_000 });
    await eventually(() => cli.out.stderr.includes('hash '), 10_000, 'hashing to start');
    const sent = Date.now();
    cli.child.kill('SIGINT');
    const exit = await cli.exited;
    expect(exit, cli.out.stderr).to.include({ code: 130, timedOut: false });
    expect(Date.now() - sent).to.be.below(2000);
    // The hasher's read under way when the signal came ends after it: its progress is not drawn.
    const lines = cli.out.stderr.trim().split('\n');
    expect(lines.at(-1), cli.out.stderr).to.match(/^stopped .*big\.bin: interrupted; what the server acknowledged stays, run the same command again to resume$/);
    expect(lines.filter((line) => line.startsWith('stopped')), cli.out.stderr).to.have.length(1);
    expect(cli.out.stderr).not.to.match(/^(done|failed)/m);
  });

  it('a Ctrl-C while the server sits on the chunks, or on the merge, stops promptly, exit 130', async () => {
    const file = await randomFile(dir.path, 64 * 1024, 'slow.bin');
    for (const stall of ['chunk', 'merge'] as const) {
      let received = 0;
      fake = await startFakeServer({
        init: (r) => partial(r.md5 as string, file.data.length, 16 * 1024),
        chunk: (r) => (stall === 'chunk' ? NEVER : stored(r, ++received)),
        merge: () => NEVER,
      });
      const cli = spawnCli(['upload', file.path, '--url', fake.url], { timeoutMs: 30_000 });
      const server = fake;
      await eventually(() => server.requests[stall].length > 0, 10_000, `the ${stall} request`);
      await sleep(200);
      const sent = Date.now();
      cli.child.kill('SIGINT');
      const exit = await cli.exited;
      expect(exit, `${stall}: ${cli.out.stderr}`).to.include({ code: 130, timedOut: false });
      expect(Date.now() - sent, stall).to.be.below(2000);
      expect(cli.out.stderr).to.match(/^stopped .*slow\.bin: interrupted; .*run the same command again to resume$/m);
      await fake.stop();
      fake = undefined;
    }
  });

  it('a second Ctrl-C exits at once, 130', async () => {
    const file = await randomFile(dir.path, 64 * 1024, 'twice.bin');
    // A server that never answers init: the first Ctrl-C starts a clean stop, the second does not wait for it.
    fake = await startFakeServer({ init: () => NEVER });
    const cli = spawnCli(['upload', file.path, '--url', fake.url], { timeoutMs: 30_000 });
    const server = fake;
    await eventually(() => server.requests.init.length > 0, 10_000, 'the init request');
    const sent = Date.now();
    cli.child.kill('SIGINT');
    cli.child.kill('SIGINT');
    const exit = await cli.exited;
    expect(exit, JSON.stringify(exit)).to.include({ timedOut: false, code: 130 });
    expect(Date.now() - sent).to.be.below(2000);
  });
});
