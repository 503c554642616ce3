import { expect } from 'chai';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploader, FileHashCache, NodeFileSource, upload } from '../../src/client/node.js';
import { MiB } from '../../src/protocol/index.js';
import { md5Of, randomFile, tempDir } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

const identityOf = async (path: string) => {
  const source = await NodeFileSource.open(path);
  try {
    return await source.identity();
  } finally {
    await source.close();
  }
};

describe('the client hash cache (Node)', function () {
  this.timeout(60_000);
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let cache: FileHashCache;
  beforeEach(async () => {
    server = await startTestServer();
    dir = await tempDir();
    cache = new FileHashCache(join(dir.path, 'cache', 'md5.json'));
  });
  afterEach(async () => {
    await server.stop();
    await dir.remove();
  });

  it('a hit: an unchanged file is not hashed again, for an instant re-upload and for a resume', async () => {
    const file = await randomFile(dir.path, 8 * MiB);
    const first = await upload(file.path, { url: server.url, hashCache: cache });
    expect(first.md5Cached).to.equal(false);
    expect(await cache.get(await identityOf(file.path))).to.equal(file.md5);
    const again = await createUploader(file.path, { url: server.url, hashCache: new FileHashCache(cache.path) });
    let hashed = 0;
    again.on('hash-progress', () => hashed++);
    const result = await again.start();
    expect(result).to.include({ instant: true, md5Cached: true, md5: file.md5 });
    expect(hashed).to.equal(0);

    // a resume: an upload stopped half-way starts again without hashing, sending only the rest
    const big = await randomFile(dir.path, 16 * MiB, 'big.bin');
    const stopped = await createUploader(big.path, { url: server.url, hashCache: cache, maxInFlight: MiB });
    stopped.on('progress', (p) => p.bytes > 8 * MiB && stopped.abort());
    await stopped.start().catch(() => {});
    const resumed = await createUploader(big.path, { url: server.url, hashCache: new FileHashCache(cache.path) });
    let firstFrameAfterMs: number | undefined;
    const started = performance.now();
    resumed.on('progress', (p) => (firstFrameAfterMs ??= p.sent > 0 ? performance.now() - started : undefined));
    const done = await resumed.start();
    expect(done).to.include({ md5Cached: true, md5: big.md5 });
    expect(done.bytesSent).to.be.below(big.data.length);
    console.log(`      resume of a 16 MiB upload: first frame sent ${firstFrameAfterMs?.toFixed(0)} ms after start`);
  });

  it('a miss after a change: the file is hashed again and the cache follows', async () => {
    const file = await randomFile(dir.path, 4 * MiB);
    await upload(file.path, { url: server.url, hashCache: cache });
    const before = await identityOf(file.path);
    await appendFile(file.path, 'x');
    const changed = await readFile(file.path);
    const result = await upload(file.path, { url: server.url, hashCache: cache });
    expect(result).to.include({ md5Cached: false, md5: md5Of(changed), instant: false });
    const after = await identityOf(file.path);
    expect(after).to.not.equal(before);
    expect(await cache.get(after)).to.equal(md5Of(changed));
    // the same size and content written again: its ctime moved, so it is a miss too
    await writeFile(file.path, changed);
    expect(await identityOf(file.path)).to.not.equal(after);
  });

  it('a lying cache: E_CHECKSUM, then the file is hashed again and the upload starts over and completes', async () => {
    const file = await randomFile(dir.path, 3 * MiB);
    const identity = await identityOf(file.path);
    await cache.set(identity, '0123456789abcdef0123456789abcdef'); // as if the file changed without its identity changing
    const uploader = await createUploader(file.path, { url: server.url, hashCache: cache });
    const retries: string[] = [];
    uploader.on('retry', ({ error }) => retries.push(error.code));
    const result = await uploader.start();
    expect(retries).to.deep.equal(['E_CHECKSUM']);
    expect(result).to.include({ md5: file.md5, md5Cached: false });
    expect(await cache.get(identity)).to.equal(file.md5);
    const stored = await readFile(join(server.config.uploadDir, file.md5.slice(0, 2), file.md5));
    expect(stored.equals(file.data)).to.equal(true);
  });

  it('is bounded: only the most recently used entries are kept, and an unreadable file counts as empty', async () => {
    const small = new FileHashCache(join(dir.path, 'small.json'), 3);
    for (let i = 0; i < 5; i++) await small.set(`id-${i}`, md5Of(Buffer.from(String(i))));
    const reread = new FileHashCache(small.path, 3);
    expect(await reread.get('id-0')).to.equal(undefined);
    expect(await reread.get('id-4')).to.equal(md5Of(Buffer.from('4')));
    const saved = JSON.parse(await readFile(small.path, 'utf8')) as { entries: unknown[] };
    expect(saved.entries).to.have.length(3);
    await writeFile(small.path, '{not json');
    expect(await new FileHashCache(small.path).get('id-4')).to.equal(undefined);
  });
});
