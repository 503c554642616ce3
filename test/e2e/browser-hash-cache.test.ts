import { expect } from 'chai';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { fileIdentity, sampleDigest, sampleRanges } from '../../src/client/browser-hash-cache.js';

/** The identity the page computes for a file of these bytes, name and lastModified (ms). */
function identityOf(data: Uint8Array, name: string, lastModified: number): string {
  const samples = sampleDigest(sampleRanges(data.length).map(([start, end]) => data.subarray(start, end)));
  return fileIdentity({ name, size: data.length, lastModified }, samples);
}
import { countOf } from '../../src/protocol/index.js';
import { launchChromium } from '../support/browser.js';
import { cacheRecord, hashCacheScript } from '../support/browser-cache-page.js';
import { statusOf } from '../support/chunks.js';
import { md5Of, randomFile, sleep, storedPath, tempDir } from '../support/fixtures.js';
import { startProxy } from '../support/proxy.js';
import { startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;
/** A whole second, so the File's lastModified (ms) is known exactly: mtime * 1000. */
const MTIME = 1_700_000_000;

type RowData = Record<string, string | undefined>;

describe('the browser hash cache (IndexedDB) in real Chromium', function () {
  let browser: Browser;
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
  });
  beforeEach(async () => {
    server = await startTestServer({ chunkSize: CHUNK });
    dir = await tempDir();
    page = await browser.newPage(); // a context of its own: an empty IndexedDB
    pageErrors.length = 0;
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterEach(async () => {
    await page.close();
    await server.stop();
    await dir.remove();
    expect(pageErrors, 'uncaught errors in the page').to.deep.equal([]);
  });

  /** Picks `path` in the page and waits for its row (the newest, at the top) to end; returns the row's data attributes. */
  async function uploadInPage(path: string): Promise<RowData> {
    const before = await page.locator('li.upload').count();
    await page.setInputFiles('#picker', [path]);
    const ended = await page.waitForFunction((rows) => {
      const row = document.querySelector<HTMLElement>('li.upload');
      const count = document.querySelectorAll('li.upload').length;
      return count > rows && row && ['done', 'instant', 'failed'].includes(row.dataset.phase ?? '') ? { ...row.dataset } : undefined;
    }, before);
    return (await ended.jsonValue()) as RowData;
  }

  async function fileWithMtime(name: string, size: number, mtime: number) {
    const file = await randomFile(dir.path, size, name);
    await utimes(file.path, mtime, mtime);
    return { ...file, identity: identityOf(file.data, name, mtime * 1000) };
  }

  it('a hit: the same file picked again, also after a reload, is found in the cache, and hashed once to confirm it is instant', async () => {
    const file = await randomFile(dir.path, 40 * CHUNK + 17, 'clip.mp4');
    await page.goto(server.url);
    expect(await uploadInPage(file.path)).to.include({ phase: 'done', md5: file.md5, md5Cached: 'false', hashPasses: '1' });

    // The server has that md5: the cached one is confirmed by hashing before the file is reported as there.
    const again = await uploadInPage(file.path);
    expect(again).to.include({ phase: 'instant', md5: file.md5, md5Cached: 'true', hashPasses: '1', chunksSent: '0' });
    await page.reload();
    expect(await uploadInPage(file.path)).to.include({ phase: 'instant', md5: file.md5, md5Cached: 'true', hashPasses: '1' });
  });

  it('a resume after a reload starts without hashing and sends only what the server lacks', async () => {
    const proxy = await startProxy(server.url, 1024 * 1024);
    try {
      const file = await randomFile(dir.path, 48 * CHUNK, 'disk.img');
      await page.goto(proxy.url);
      await page.setInputFiles('#picker', [file.path]);
      await page.waitForFunction(() => (document.querySelector<HTMLProgressElement>('.upload-bar')?.value ?? 0) > 30);
      await page.reload();
      await sleep(300); // let chunks already in the server's hands land
      const status = await statusOf(server.url, file.md5);
      if (status.status !== 'partial') throw new Error(`expected a partial upload, got ${status.status}`);
      const missing = countOf(status.missing);
      expect(missing).to.be.within(1, 40);

      proxy.throttle(0);
      const row = await uploadInPage(file.path);
      expect(row).to.include({ phase: 'done', md5: file.md5, md5Cached: 'true', hashPasses: '0', chunksSent: String(missing) });
      const stored = await readFile(storedPath(server.config.uploadDir, file.md5));
      expect(stored.equals(file.data)).to.equal(true);
    } finally {
      await proxy.close();
    }
  });

  it('a miss after a change in place, even with the same size and lastModified, when a sampled block changed', async () => {
    const file = await fileWithMtime('kept-mtime.bin', 10 * CHUNK, MTIME);
    await page.goto(server.url);
    expect(await uploadInPage(file.path)).to.include({ phase: 'done', md5: file.md5 });
    const changed = Buffer.from(file.data);
    changed[0] = changed[0]! ^ 0xff; // the first block is always sampled
    await writeFile(file.path, changed);
    await utimes(file.path, MTIME, MTIME); // a tool that keeps the old timestamp
    expect(await uploadInPage(file.path)).to.include({ phase: 'done', md5: md5Of(changed), md5Cached: 'false', hashPasses: '1' });
  });

  it('a miss after a change: the same name and size with other content and lastModified is hashed again', async () => {
    const file = await fileWithMtime('report.pdf', 10 * CHUNK, MTIME);
    await page.goto(server.url);
    expect(await uploadInPage(file.path)).to.include({ phase: 'done', md5: file.md5, hashPasses: '1' });

    const changed = randomBytes(file.data.length);
    await writeFile(file.path, changed);
    await utimes(file.path, MTIME + 60, MTIME + 60);
    const row = await uploadInPage(file.path);
    expect(row).to.include({ phase: 'done', md5: md5Of(changed), md5Cached: 'false', hashPasses: '1', chunksSent: '10' });
    const identity = identityOf(changed, 'report.pdf', (MTIME + 60) * 1000);
    expect(await cacheRecord(page, identity)).to.have.property('md5', md5Of(changed));
  });

  it('a lying cache: E_CHECKSUM once, then the file is hashed, sent again, and the cache corrected', async () => {
    const warmUp = await randomFile(dir.path, CHUNK, 'first.txt');
    const file = await fileWithMtime('lie.bin', 10 * CHUNK, MTIME);
    await page.goto(server.url);
    await uploadInPage(warmUp.path); // the page creates its database
    const wrong = '0123456789abcdef0123456789abcdef';
    await cacheRecord(page, file.identity, { md5: wrong, usedAt: Date.now() });

    const row = await uploadInPage(file.path);
    // all 10 chunks under the wrong md5 (refused at merge), then all 10 again under the right one
    expect(row).to.include({ phase: 'done', md5: file.md5, md5Cached: 'false', hashPasses: '1', chunksSent: '20' });
    expect(await cacheRecord(page, file.identity)).to.have.property('md5', file.md5);
    const stored = await readFile(storedPath(server.config.uploadDir, file.md5));
    expect(stored.equals(file.data)).to.equal(true);
    const status = await statusOf(server.url, wrong);
    expect(status.status).to.not.equal('complete');
  });

  it('a stale entry naming a file the server has: the file is hashed before it is reported, and its real content is uploaded', async () => {
    // Another file of the same size is on the server: init under its md5 answers "complete".
    const other = await randomFile(dir.path, 10 * CHUNK, 'other.bin');
    const file = await fileWithMtime('stale.bin', 10 * CHUNK, MTIME);
    await page.goto(server.url);
    expect(await uploadInPage(other.path)).to.include({ phase: 'done', md5: other.md5 }); // the page creates its database
    await cacheRecord(page, file.identity, { md5: other.md5, usedAt: Date.now() }); // as if the file changed in place, unseen by the samples

    const row = await uploadInPage(file.path);
    expect(row).to.include({ phase: 'done', md5: file.md5, md5Cached: 'false', hashPasses: '1', chunksSent: '10' });
    const download = await fetch(`${server.url}/files/${file.md5}`);
    expect(download.status).to.equal(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(file.data)).to.equal(true);
    expect(await cacheRecord(page, file.identity)).to.have.property('md5', file.md5);
  });

  it('is bounded: beyond its limit, the entries used longest ago are dropped', async () => {
    await page.goto(`${server.url}/healthz`); // an origin of its own, without the upload page
    await page.addScriptTag({ content: await hashCacheScript() });
    const found = await page.evaluate(async () => {
      const { IndexedDbHashCache } = (window as unknown as { upwireCache: typeof import('../../src/client/browser-hash-cache.js') }).upwireCache;
      const md5 = (i: number) => String(i).repeat(32);
      const cache = new IndexedDbHashCache(3);
      for (let i = 0; i < 3; i++) await cache.set(`id-${i}`, md5(i));
      await cache.get('id-0'); // used now: id-1 is the oldest
      await cache.set('id-3', md5(3));
      await cache.set('id-4', md5(4));
      const other = new IndexedDbHashCache(3); // another tab's instance, the same database
      return Promise.all([0, 1, 2, 3, 4].map((i) => other.get(`id-${i}`)));
    });
    expect(found).to.deep.equal(['0'.repeat(32), undefined, undefined, '3'.repeat(32), '4'.repeat(32)]);
  });

  it('is bounded by the order of use, not by the clock: other tabs in the same millisecond, a clock set back', async () => {
    await page.goto(`${server.url}/healthz`);
    await page.addScriptTag({ content: await hashCacheScript() });
    const found = await page.evaluate(async () => {
      const { IndexedDbHashCache } = (window as unknown as { upwireCache: typeof import('../../src/client/browser-hash-cache.js') }).upwireCache;
      const md5 = (c: string) => c.repeat(32);
      const realNow = Date.now;
      const tick = realNow();
      try {
        Date.now = () => tick; // one clock tick for every write
        const first = new IndexedDbHashCache(3, 'order-of-use');
        for (const id of ['b', 'c', 'd']) await first.set(id, md5(id));
        // Another tab's instance: its entry is the newest, so 'b' (used longest ago) is dropped, not 'a' (the newest).
        await new IndexedDbHashCache(3, 'order-of-use').set('a', md5('a'));
        Date.now = () => tick - 3600_000; // the clock set back an hour
        await new IndexedDbHashCache(3, 'order-of-use').set('e', md5('e')); // drops 'c'
        await new IndexedDbHashCache(3, 'order-of-use').get('d'); // used now: 'a' is the one used longest ago
        await new IndexedDbHashCache(3, 'order-of-use').set('f', md5('f')); // drops 'a'
      } finally {
        Date.now = realNow;
      }
      const reader = new IndexedDbHashCache(3, 'order-of-use');
      const kept: Record<string, string | undefined> = {};
      for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) kept[id] = await reader.get(id);
      return kept;
    });
    expect(found).to.deep.equal({ a: undefined, b: undefined, c: undefined, d: 'd'.repeat(32), e: 'e'.repeat(32), f: 'f'.repeat(32) });
  });

  it('is silent where IndexedDB cannot be used (an opaque origin): nothing found, nothing thrown', async () => {
    await page.goto('data:text/html,<p>no storage here</p>');
    await page.addScriptTag({ content: await hashCacheScript() });
    const outcome = await page.evaluate(async () => {
      const { IndexedDbHashCache } = (window as unknown as { upwireCache: typeof import('../../src/client/browser-hash-cache.js') }).upwireCache;
      let direct = '';
      try {
        indexedDB.open('probe');
      } catch (err) {
        direct = (err as Error).name;
      }
      const cache = new IndexedDbHashCache();
      await cache.set('id', 'f'.repeat(32));
      await cache.delete('other');
      return { direct, found: await cache.get('id') ?? null };
    });
    expect(outcome).to.deep.equal({ direct: 'SecurityError', found: null });
  });
});
