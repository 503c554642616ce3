import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { appendFile, mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploader, FileHashCache, NodeFileSource, upload } from '../../src/client/node.js';
import { HASH_CACHE_MAX_BYTES } from '../../src/client/node-hash-cache.js';
import { MiB } from '../../src/protocol/index.js';
import { runCli } from '../support/client-cli.js';
import { startEmbedded, userTokens } from '../support/embedded.js';
import { md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * A FIFO at `path`, and a way to let go of a reader blocked on it (opening it for writing, without
 * blocking, wakes one up with an end of file), so a test of code that would hang cannot hang mocha.
 */
function fifoAt(path: string): { release: () => Promise<void> } {
  execFileSync('mkfifo', [path]);
  return {
    release: async () => {
      const writer = await open(path, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined); // ENXIO: no reader
      await writer?.close();
    },
  };
}

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

  it('a hit: an unchanged file is not hashed again for a resume, and hashed once to confirm an instant re-upload', async () => {
    const file = await randomFile(dir.path, 8 * MiB);
    const first = await upload(file.path, { url: server.url, hashCache: cache });
    expect(first.md5Cached).to.equal(false);
    expect(await cache.get(await identityOf(file.path))).to.equal(file.md5);
    // instant: the server has that md5, so the file is hashed once to confirm it (see the stale entries below)
    const again = await createUploader(file.path, { url: server.url, hashCache: new FileHashCache(cache.path) });
    let hashed = 0;
    again.on('hash-progress', () => hashed++);
    const result = await again.start();
    expect(result).to.include({ instant: true, md5Cached: true, md5: file.md5, bytesSent: 0 });
    expect(hashed).to.be.above(0);

    // a resume: an upload stopped half-way starts again without hashing, sending only the rest
    const big = await randomFile(dir.path, 16 * MiB, 'big.bin');
    const stopped = await createUploader(big.path, { url: server.url, hashCache: cache, maxInFlight: MiB });
    stopped.on('progress', (p) => p.bytes > 8 * MiB && stopped.abort());
    await stopped.start().catch(() => {});
    const resumed = await createUploader(big.path, { url: server.url, hashCache: new FileHashCache(cache.path) });
    let firstFrameAfterMs: number | undefined;
    let rehashed = 0;
    const started = performance.now();
    resumed.on('progress', (p) => (firstFrameAfterMs ??= p.sent > 0 ? performance.now() - started : undefined));
    resumed.on('hash-progress', () => rehashed++);
    const done = await resumed.start();
    expect(done).to.include({ md5Cached: true, md5: big.md5 });
    expect(rehashed).to.equal(0); // the merge checks what was sent: no hash before a partial upload
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
    const stored = await readFile(storedPath(server.config.uploadDir, file.md5));
    expect(stored.equals(file.data)).to.equal(true);
  });

  it('a stale entry naming a file the server has: the file is hashed before it is reported, and its real content is uploaded', async () => {
    // Another file of the same size is on the server: init under its md5 answers "complete".
    const other = await randomFile(dir.path, 3 * MiB, 'other.bin');
    await upload(other.path, { url: server.url, hashCache: false });
    const file = await randomFile(dir.path, 3 * MiB, 'changed.bin');
    const identity = await identityOf(file.path);
    await cache.set(identity, other.md5); // as if the file held other's content, then changed without its identity changing
    const uploader = await createUploader(file.path, { url: server.url, hashCache: cache });
    let hashed = 0;
    uploader.on('hash-progress', () => hashed++);
    const result = await uploader.start();
    expect(result).to.include({ md5: file.md5, instant: false, md5Cached: false, bytesSent: file.data.length });
    expect(hashed).to.be.above(0);
    const download = await fetch(`${server.url}/files/${file.md5}`);
    expect(download.status).to.equal(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(file.data)).to.equal(true);
    expect(await cache.get(identity)).to.equal(file.md5); // the entry corrected
  });

  it('a stale entry naming a file another principal has: hashed before the proof, then the real content is uploaded', async () => {
    const embedded = await startEmbedded({ hooks: { authorize: userTokens } });
    try {
      const other = await randomFile(dir.path, 2 * MiB, 'alice.bin');
      await upload(other.path, { url: embedded.url, token: 'user:alice', hashCache: false });
      const file = await randomFile(dir.path, 2 * MiB, 'bob.bin');
      const identity = await identityOf(file.path);
      await cache.set(identity, other.md5);
      // init under alice's md5 answers "prove"; a proof from bob's bytes would fail with E_PROOF
      const result = await upload(file.path, { url: embedded.url, token: 'user:bob', hashCache: cache });
      expect(result).to.include({ md5: file.md5, instant: false, md5Cached: false, bytesSent: file.data.length });
      const download = await fetch(`${embedded.url}/files/${file.md5}`, { headers: { authorization: 'Bearer user:bob' } });
      expect(download.status).to.equal(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(file.data)).to.equal(true);
    } finally {
      await embedded.stop();
    }
  });

  it('is bounded: only the most recently used entries are kept, whatever the clock\'s resolution, and an unreadable file counts as empty', async () => {
    // Every use in one clock tick: the order of use alone can tell which entries are the newest.
    const realNow = Date.now;
    const tick = realNow();
    Date.now = () => tick;
    try {
      const md5 = (i: number) => md5Of(Buffer.from(String(i)));
      const small = new FileHashCache(join(dir.path, 'small.json'), 3);
      for (let i = 0; i < 3; i++) await small.set(`id-${i}`, md5(i));
      expect(await small.get('id-0')).to.equal(md5(0)); // used now: id-1 is the one used longest ago
      await small.set('id-3', md5(3));
      await small.set('id-4', md5(4));
      const saved = async () => (JSON.parse(await readFile(small.path, 'utf8')) as { entries: [string, unknown][] }).entries.map(([id]) => id);
      expect(await saved()).to.deep.equal(['id-0', 'id-3', 'id-4']);
      // read back by another process: the order survives the file, ties and all
      const reread = new FileHashCache(small.path, 3);
      await reread.set('id-5', md5(5));
      expect(await saved()).to.deep.equal(['id-3', 'id-4', 'id-5']);
      expect(await new FileHashCache(small.path, 3).get('id-0')).to.equal(undefined);
    } finally {
      Date.now = realNow;
    }
    const path = join(dir.path, 'small.json');
    await writeFile(path, '{not json');
    expect(await new FileHashCache(path).get('id-4')).to.equal(undefined);
  });

  it('reads the cache file only if it is a regular file under the size cap: a FIFO there neither hangs nor is replaced', async () => {
    const file = await randomFile(dir.path, MiB);
    const path = join(dir.path, 'fifo-cache', 'md5.json');
    await mkdir(join(dir.path, 'fifo-cache'));
    const fifo = fifoAt(path);
    try {
      // A hang is forever; 10 s tells it from an upload of 1 MiB on loopback (milliseconds) on any machine.
      const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref());
      const result = await Promise.race([upload(file.path, { url: server.url, hashCache: new FileHashCache(path) }), hung]);
      if (result === 'hung') expect.fail('the upload hung on the FIFO at the cache path');
      expect(result).to.include({ md5: file.md5, md5Cached: false });
      expect((await stat(path)).isFIFO()).to.equal(true); // left alone
    } finally {
      await fifo.release();
    }

    // The CLI, with its default cache under XDG_CACHE_HOME: a FIFO there, and an upload that ends as it should.
    const home = join(dir.path, 'xdg');
    await mkdir(join(home, 'upwire'), { recursive: true });
    const cliFifo = fifoAt(join(home, 'upwire', 'md5.json'));
    const suiteCache = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = home; // read by the child when it is spawned
    try {
      const run = runCli(['upload', file.path, '--url', server.url], { timeoutMs: 20_000 });
      process.env.XDG_CACHE_HOME = suiteCache;
      const exit = await run;
      expect(exit, exit.stderr).to.include({ code: 0, timedOut: false });
      expect(JSON.parse(exit.stdout)).to.include({ md5: file.md5, instant: true });
    } finally {
      process.env.XDG_CACHE_HOME = suiteCache;
      await cliFifo.release();
    }

    // A regular file above the cap is not read (its entry would be a hit), and is replaced by a cache of the right size.
    const big = join(dir.path, 'big.json');
    const identity = await identityOf(file.path);
    const entry = JSON.stringify({ version: 1, entries: [[identity, { md5: file.md5, usedAt: Date.now() }]] });
    await writeFile(big, entry.padEnd(HASH_CACHE_MAX_BYTES + 1, ' '));
    const read = await createUploader(file.path, { url: server.url, hashCache: new FileHashCache(big) });
    let hashed = 0;
    read.on('hash-progress', () => hashed++);
    expect(await read.start()).to.include({ md5: file.md5, md5Cached: false });
    expect(hashed).to.be.above(0);
    expect((await stat(big)).size).to.be.below(1024);
    expect(await new FileHashCache(big).get(identity)).to.equal(file.md5);
    // just under the cap, the same file is read
    await writeFile(big, entry.padEnd(HASH_CACHE_MAX_BYTES, ' '));
    expect(await new FileHashCache(big).get(identity)).to.equal(file.md5);
  });
});
