import { expect } from 'chai';
import { upload, type UpwireError } from '../../src/client/node.js';
import { md5Of, randomFile, tempDir } from '../support/fixtures.js';
import { runCli } from '../support/client-cli.js';
import { complete, fail, ok, partial, startFakeServer, stored, type FakeServer } from '../support/client-fake-server.js';

/* The real client, library and CLI, against a fake server that answers what the real one never would. */

const CHUNK = 16 * 1024; // the smallest frame: one frame per chunk, so the fake acks chunks whole
const SIZE = 2 * CHUNK - 1000;
const OTHER_MD5 = md5Of(Buffer.from('another file'));

describe('client: what a server answers is checked, not trusted', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let file: Awaited<ReturnType<typeof randomFile>>;
  let fake: FakeServer | undefined;
  beforeEach(async () => {
    dir = await tempDir();
    file = await randomFile(dir.path, SIZE, 'local.bin');
  });
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
    await dir.remove();
  });
  const failure = (promise: Promise<unknown>) => promise.then(() => expect.fail('the upload succeeded'), (err: UpwireError) => err);

  it('refuses init ranges that would expand to 2^31 chunks, in a 64 MiB heap, with exit 1 and E_BAD_ANSWER', async () => {
    fake = await startFakeServer({ init: (r) => partial(r.md5 as string, SIZE, CHUNK, [[0, 2 ** 31]]) });
    const run = await runCli(['upload', file.path, '--url', fake.url], { nodeArgs: ['--max-old-space-size=64'], timeoutMs: 30_000 });
    expect(run, run.stderr).to.include({ code: 1, signal: null, timedOut: false });
    expect(run.stderr).to.match(/^failed .*local\.bin: .*missing.* \[E_BAD_ANSWER\]$/m);
    expect(fake.requests.chunk).to.have.length(0);
  });

  it('refuses a merge answer naming another md5 and size 1: exit 1 with the code, never "done"', async () => {
    let received = 0;
    fake = await startFakeServer({
      init: (r) => partial(r.md5 as string, SIZE, CHUNK),
      chunk: (r) => stored(r, ++received),
      merge: () => complete(OTHER_MD5, 1),
    });
    const run = await runCli(['upload', file.path, '--url', fake.url], { timeoutMs: 30_000 });
    expect(run, run.stderr).to.include({ code: 1, timedOut: false });
    expect(run.stderr).to.match(/^failed .*local\.bin: .*md5.* \[E_BAD_ANSWER\]$/m);
    expect(run.stderr).not.to.match(/^done/m);
    expect(run.stdout).to.equal('');
  });

  it('refuses an instant answer for another size, and one whose url is not a bounded string', async () => {
    fake = await startFakeServer({ init: () => complete(file.md5, SIZE + 1) });
    expect(await failure(upload(file.path, { url: fake.url }))).to.include({ code: 'E_BAD_ANSWER' });
    await fake.stop();
    const file2 = { md5: file.md5, size: SIZE, name: 'x', type: 'application/octet-stream', url: 'u'.repeat(100_000) };
    fake = await startFakeServer({ init: () => ok({ status: 'complete', file: file2 }) });
    expect(await failure(upload(file.path, { url: fake.url }))).to.include({ code: 'E_BAD_ANSWER' });
  });

  it('refuses a chunk ack that does not echo the frame sent, or counts another total', async () => {
    for (const lie of [{ index: 7 }, { total: 3 }, { received: 5 }, { accepted: 'yes' }]) {
      fake = await startFakeServer({
        init: (r) => partial(r.md5 as string, SIZE, CHUNK),
        chunk: (r) => ({ ...stored(r, 1), ...lie }),
        merge: () => complete(file.md5, SIZE),
      });
      const err = await failure(upload(file.path, { url: fake.url, retries: 0 }));
      expect(err, JSON.stringify(lie)).to.include({ code: 'E_BAD_ANSWER' });
      await fake.stop();
      fake = undefined;
    }
  });

  it('refuses an answer that is not a result, and an error code the protocol does not have, without retrying', async () => {
    fake = await startFakeServer({ init: () => 'hello' });
    expect(await failure(upload(file.path, { url: fake.url }))).to.include({ code: 'E_BAD_ANSWER' });
    expect(fake.requests.init).to.have.length(1);
    await fake.stop();
    fake = await startFakeServer({ init: () => fail('E_WHATEVER', '\x1b]0;pwned\x07 no') });
    const err = await failure(upload(file.path, { url: fake.url }));
    expect(err).to.include({ code: 'E_BAD_ANSWER' });
    expect(err.message).not.to.match(/\x1b|\x07/); // eslint-disable-line no-control-regex
    expect(fake.requests.init).to.have.length(1);
  });

  it('gives up after a bounded number of attempts on a server that stores one chunk, then answers E_INCOMPLETE forever', async () => {
    // Chunk 0 is stored once; chunk 1 never is; merge says E_INCOMPLETE with ranges far beyond the file.
    let has0 = false;
    fake = await startFakeServer({
      init: (r) => partial(r.md5 as string, SIZE, CHUNK, has0 ? [[1, 2]] : [[0, 2]]),
      chunk: (r) => {
        if (r.index === 0) {
          has0 = true;
          return stored(r, 1);
        }
        return ok({ index: r.index, offset: r.offset ?? 0, accepted: false, stored: false, next: 1, received: 1, total: 2 });
      },
      merge: () => fail('E_INCOMPLETE', '1 chunks are missing', { missing: [[1, 2 ** 31]] }),
    });
    const retries = 2;
    const started = Date.now();
    const err = await failure(upload(file.path, { url: fake.url, retries }));
    expect(err).to.include({ code: 'E_INCOMPLETE' });
    // One attempt that made progress, then `retries` more without: nothing resets the count.
    expect(fake.requests.init.length).to.equal(retries + 1);
    expect(fake.requests.merge.length).to.equal(retries + 1);
    expect(Date.now() - started).to.be.below(15_000);
  });
});
