import { expect } from 'chai';
import { upload, UpwireError } from '../../src/client/node.js';
import { runCli } from '../support/client-cli.js';
import { randomFile, tempDir } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * A URL with a path where no upwire is mounted (`http://host:port/api`): the client looks for
 * socket.io at /api/socket.io, which the server does not answer. That used to hang (the Node
 * client) or exit 0 with no result (the CLI); it must fail fast, with a code that says so.
 */
describe('a server URL with a path where upwire is not mounted', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    server = await startTestServer();
    dir = await tempDir();
  });
  after(async () => {
    await server.stop();
    await dir.remove();
  });

  it('the Node client fails fast with E_NOT_FOUND', async () => {
    const file = await randomFile(dir.path, 1000, 'api.bin');
    const started = Date.now();
    const error = await upload(file.path, { url: `${server.url}/api`, hashCache: false }).then(() => undefined, (err: unknown) => err);
    const ms = Date.now() - started;
    expect(error).to.be.instanceOf(UpwireError);
    expect((error as UpwireError).code, (error as Error).message).to.equal('E_NOT_FOUND');
    expect((error as UpwireError).message).to.include(`${server.url}/api`);
    expect(ms).to.be.below(5000);
  });

  it('the CLI exits 1 with one line naming the code', async () => {
    const file = await randomFile(dir.path, 1000, 'cli-api.bin');
    const result = await runCli(['upload', file.path, '--url', `${server.url}/api`, '--no-hash-cache'], { timeoutMs: 30_000 });
    expect(result.timedOut).to.equal(false);
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stdout).to.equal('');
    const failed = result.stderr.split('\n').filter((line) => line.startsWith('failed'));
    expect(failed, result.stderr).to.have.length(1);
    expect(failed[0]).to.match(/^failed .*cli-api\.bin: .* \[E_NOT_FOUND\]$/);
    expect(result.ms).to.be.below(10_000);
  });
});
