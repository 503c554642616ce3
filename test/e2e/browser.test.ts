import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { upload } from '../../src/client/node.js';
import { countOf } from '../../src/protocol/index.js';
import { ARTIFACTS, launchChromium } from '../support/browser.js';
import { browserClientScript } from '../support/browser-client.js';
import { md5Of, randomFile, sleep, storedPath, tempDir } from '../support/fixtures.js';
import { startProxy, type Proxy } from '../support/proxy.js';
import { statusOf } from '../support/chunks.js';
import { exited, spawnServer, startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;
/** The flow control's bound in the test of it: about a second of data on its 256 KB/s link. */
const MAX_IN_FLIGHT = 256 * 1024;

describe('the upload page in real Chromium', function () {
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
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterEach(async () => {
    await page.close();
    await server.stop();
    await dir.remove();
    expect(pageErrors, 'uncaught errors in the page').to.deep.equal([]);
  });

  async function storedBytes(md5: string): Promise<Buffer> {
    const fromSpawned = storedPath(join(dir.path, 'uploads'), md5);
    return readFile(fromSpawned).catch(() => readFile(storedPath(server.config.uploadDir, md5)));
  }

  it('uploads files picked in the page, shows them done, then instant on a second upload', async () => {
    const a = await randomFile(dir.path, 40 * CHUNK + 17, 'clip.mp4');
    const b = await randomFile(dir.path, 5 * CHUNK, 'notes.txt');
    await page.goto(server.url);
    await page.setInputFiles('#picker', [a.path, b.path]);
    await page.waitForSelector('li.upload[data-phase="done"] >> nth=1');
    expect(md5Of(await storedBytes(a.md5))).to.equal(a.md5);
    expect(md5Of(await storedBytes(b.md5))).to.equal(b.md5);
    const rows = await page.$$eval('li.upload', (els) => els.map((e) => ({ md5: e.dataset.md5, sent: e.dataset.chunksSent })));
    expect(rows).to.deep.include.members([{ md5: a.md5, sent: '41' }, { md5: b.md5, sent: '5' }]);
    // the server's list refreshes with download links
    await page.waitForSelector(`#stored li[data-md5="${a.md5}"] a`);
    const href = await page.getAttribute(`#stored li[data-md5="${a.md5}"] a`, 'href');
    expect(new URL(href!, server.url).pathname).to.equal(`/files/${a.md5}`); // relative to the page, which may be mounted anywhere

    await page.setInputFiles('#picker', [a.path]);
    const instant = page.locator('li.upload[data-phase="instant"]');
    await instant.waitFor();
    expect(await instant.getAttribute('data-chunks-sent')).to.equal('0');
    expect(await instant.locator('.message').textContent()).to.match(/already on the server/i);
    await page.screenshot({ path: join(ARTIFACTS, 'page-complete.png'), fullPage: true });
  });

  it('resumes after the page was reloaded mid-upload, sending only the missing chunks', async () => {
    const proxy: Proxy = await startProxy(server.url, 1024 * 1024);
    try {
      const file = await randomFile(dir.path, 48 * CHUNK, 'disk.img');
      await page.goto(proxy.url);
      await page.setInputFiles('#picker', [file.path]);
      await page.waitForFunction(() => (document.querySelector<HTMLProgressElement>('.upload-bar')?.value ?? 0) > 30);
      await page.screenshot({ path: join(ARTIFACTS, 'page-mid-upload.png'), fullPage: true });
      await page.reload();
      await sleep(300); // let chunks already in the server's hands land
      const status = await statusOf(server.url, file.md5);
      if (status.status !== 'partial') throw new Error(`expected a partial upload, got ${status.status}`);
      const missing = countOf(status.missing);
      // The bar counts bytes the server accepted (written), a little ahead of the chunks recorded
      // when the server died: the last few may be written and not yet committed, or half sent.
      expect(missing).to.be.within(1, 40);

      proxy.throttle(0);
      await page.setInputFiles('#picker', [file.path]);
      const row = page.locator('li.upload[data-phase="done"]');
      await row.waitFor();
      expect(Number(await row.getAttribute('data-chunks-sent'))).to.equal(missing);
      expect((await storedBytes(file.md5)).equals(file.data)).to.equal(true);
    } finally {
      await proxy.close();
    }
  });

  it('resumes after the server was killed (-9) mid-upload and restarted, sending only the missing chunks', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const first = await spawnServer(dirs, { CHUNK_SIZE: String(CHUNK) });
    const proxy = await startProxy(first.url, 1024 * 1024);
    let second: Awaited<ReturnType<typeof spawnServer>> | undefined;
    try {
      const file = await randomFile(dir.path, 48 * CHUNK, 'dataset.bin');
      await page.goto(proxy.url);
      await page.setInputFiles('#picker', [file.path]);
      await page.waitForFunction(() => (document.querySelector<HTMLProgressElement>('.upload-bar')?.value ?? 0) > 30);
      first.child.kill('SIGKILL');
      await exited(first.child);
      await page.waitForSelector('li.upload[data-phase="retrying"]');
      // One message, and a badge that agrees with it while the reconnection attempts go on.
      expect(await page.locator('li.upload .message').textContent()).to.match(/^Connection lost; retrying \(attempt \d+\)…$/);
      expect(await page.locator('li.upload .phase').textContent()).to.equal('retrying');

      second = await spawnServer(dirs);
      const status = await statusOf(second.url, file.md5);
      if (status.status !== 'partial') throw new Error(`expected a partial upload, got ${status.status}`);
      const missing = countOf(status.missing);
      // The bar counts bytes the server accepted (written), a little ahead of the chunks recorded
      // when the server died: the last few may be written and not yet committed, or half sent.
      expect(missing).to.be.within(1, 40);
      proxy.throttle(0);
      proxy.bytesUp = 0;
      proxy.retarget(second.url);

      await page.locator('li.upload[data-phase="done"]').waitFor();
      // What reached the restarted server: the missing chunks and a little framing, nothing more.
      expect(proxy.bytesUp).to.be.within(missing * CHUNK, missing * CHUNK + 32 * 1024);
      expect((await storedBytes(file.md5)).equals(file.data)).to.equal(true);
    } finally {
      await proxy.close();
      second?.child.kill('SIGTERM');
      if (second) await exited(second.child);
    }
  });

  it('pauses and resumes from the row buttons', async () => {
    const proxy = await startProxy(server.url, 1024 * 1024);
    try {
      const file = await randomFile(dir.path, 64 * CHUNK, 'pausable.bin');
      await page.goto(proxy.url);
      await page.setInputFiles('#picker', [file.path]);
      await page.waitForSelector('li.upload[data-phase="uploading"]');
      await page.click('li.upload .pause');
      await page.waitForSelector('li.upload[data-phase="paused"]');
      // The frames already in flight land (about a second of them at the measured rate), then the bar holds.
      const bar = () => page.$eval('.upload-bar', (el) => (el as HTMLProgressElement).value);
      let held = await bar();
      for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
        await sleep(400);
        const now = await bar();
        if (now === held) break;
        held = now;
      }
      await sleep(1000); // unpaused, this second would move the bar by about 25%
      const later = await page.$eval('.upload-bar', (el) => (el as HTMLProgressElement).value);
      expect(held).to.be.below(100);
      expect(later).to.equal(held);
      expect(await page.textContent('li.upload .pause')).to.equal('Resume');
      proxy.throttle(0);
      await page.click('li.upload .pause');
      await page.waitForSelector('li.upload[data-phase="done"]');
      expect((await storedBytes(file.md5)).equals(file.data)).to.equal(true);
    } finally {
      await proxy.close();
    }
  });

  it('sends under the same flow control: over a 256 KB/s link, never more than maxInFlight sent and not answered, in frames of a quarter of it', async () => {
    await server.stop();
    server = await startTestServer({ chunkSize: 4 * 1024 * 1024 });
    const proxy = await startProxy(server.url, 256 * 1024);
    try {
      const file = await randomFile(dir.path, 3 * 1024 * 1024, 'over-a-slow-link.bin');
      // The package's browser build on the server's origin, without the page's own uploads: the test
      // sets maxInFlight, the bound the flow control keeps whatever it measures of the link (the
      // window follows the measured rate, and a first burst of answers can make a slow link look
      // fast for a moment: the default bound, 16 MiB, is all it guarantees there).
      await page.goto(`${proxy.url}/healthz`);
      await page.addScriptTag({ content: await browserClientScript() });
      await page.evaluate(() => document.body.append(Object.assign(document.createElement('input'), { type: 'file', id: 'file' })));
      await page.setInputFiles('#file', file.path);
      const seen = await page.evaluate(async (maxInFlight) => {
        const { createUploader } = (window as unknown as { upwireClient: typeof import('../../src/client/browser.js') }).upwireClient;
        // At every send, read from the WebSocket itself: the binary bytes handed to it and not yet
        // answered (answers counted from the uploader's progress), and Chromium's bufferedAmount.
        let sent = 0;
        let answered = 0;
        const seen = { frames: 0, largestFrame: 0, mostUnanswered: 0, mostBuffered: 0 };
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (this: WebSocket, data) {
          send.call(this, data);
          if (typeof data !== 'string') {
            const bytes = data instanceof Blob ? data.size : data.byteLength;
            sent += bytes;
            seen.frames++;
            seen.largestFrame = Math.max(seen.largestFrame, bytes);
          }
          seen.mostUnanswered = Math.max(seen.mostUnanswered, sent - answered);
          seen.mostBuffered = Math.max(seen.mostBuffered, this.bufferedAmount);
        };
        const picked = document.querySelector<HTMLInputElement>('#file')!.files![0]!;
        const uploader = await createUploader(picked, { url: location.origin, maxInFlight, hashCache: false });
        uploader.on('progress', (p) => (answered = p.bytes));
        const result = await uploader.start();
        return { ...seen, md5: result.md5, bytesSent: result.bytesSent };
      }, MAX_IN_FLIGHT);
      console.log(`      3 MiB at 256 KB/s, maxInFlight ${MAX_IN_FLIGHT / 1024} KiB: ${seen.frames} frames of at most ${seen.largestFrame / 1024} KiB, `
        + `at most ${(seen.mostUnanswered / 1024).toFixed(0)} KiB unanswered, ${(seen.mostBuffered / 1024).toFixed(0)} KiB in bufferedAmount`);
      expect(seen).to.include({ md5: file.md5, bytesSent: file.data.length });
      expect((await storedBytes(file.md5)).equals(file.data)).to.equal(true);
      // flow.ts: a frame is a quarter of the window (16 KiB at least), the window at most maxInFlight
      expect(seen.largestFrame).to.be.at.most(MAX_IN_FLIGHT / 4);
      expect(seen.mostUnanswered).to.be.at.most(MAX_IN_FLIGHT);
      // The WebSocket holds no more than that, and the socket.io packet before each frame (about
      // 140 bytes; at most 16 frames of 16 KiB are out at once): 4 KiB covers them and init's.
      expect(seen.mostBuffered).to.be.at.most(MAX_IN_FLIGHT + 4 * 1024);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a file above the server\'s limit before hashing it: the server writes its limit into the page', async () => {
    await server.stop();
    server = await startTestServer({ maxFileSize: 1000 });
    const file = await randomFile(dir.path, 5000, 'too-big.bin');
    await page.goto(server.url);
    await page.setInputFiles('#picker', [file.path]);
    const row = page.locator('li.upload[data-phase="refused"]');
    await row.waitFor();
    expect(await row.getAttribute('data-refused')).to.equal('size');
    expect(await row.getAttribute('data-hash-passes')).to.equal('0');
    expect(await row.locator('.message').textContent()).to.equal('Not sent: 4.9 KiB is above the limit of 1000 B.');
  });

  it('asks for the token once when the server requires one, then uploads with it', async () => {
    await server.stop();
    server = await startTestServer({ uploadToken: 'open-sesame' });
    const file = await randomFile(dir.path, 3 * CHUNK, 'secret.pdf');
    await page.goto(server.url);
    await page.waitForSelector('#token-dialog[open]');
    await page.fill('#token-input', 'open-sesame');
    await page.keyboard.press('Enter');
    await page.setInputFiles('#picker', [file.path]);
    await page.waitForSelector('li.upload[data-phase="done"]');
    expect(await page.locator('#token-dialog[open]').count()).to.equal(0);
    // downloads work from the page's plain links
    await page.waitForSelector(`#stored li[data-md5="${file.md5}"] a`);
    const href = await page.getAttribute(`#stored li[data-md5="${file.md5}"] a`, 'href');
    const res = await fetch(new URL(href!, server.url));
    expect(res.status).to.equal(200);
    expect(md5Of(Buffer.from(await res.arrayBuffer()))).to.equal(file.md5);
  });

  it('shows uploads from other clients live in the "Uploads on this server" panel', async () => {
    const proxy = await startProxy(server.url, 1024 * 1024);
    try {
      const file = await randomFile(dir.path, 40 * CHUNK, 'from-elsewhere.tar');
      await page.goto(server.url);
      await page.waitForSelector('#live-state:text("live")');
      const done = upload(file.path, { url: proxy.url }); // a Node client, not this tab
      const row = page.locator(`#live li[data-md5="${file.md5}"]`);
      await row.waitFor();
      expect(await row.locator('.name').textContent()).to.equal('from-elsewhere.tar');
      expect(await row.locator('.detail').textContent()).to.match(/\d+% · .*\/s · .* left · 1 client/);
      await done;
      await page.waitForSelector(`#live li[data-md5="${file.md5}"][data-state="done"]`);
      await page.waitForSelector(`#stored li[data-md5="${file.md5}"]`); // the stored list refreshed
    } finally {
      await proxy.close();
    }
  });

  it('is usable at a phone width and from the keyboard', async () => {
    await page.setViewportSize({ width: 380, height: 760 });
    await page.goto(server.url);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).to.equal(0);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).to.equal('picker');
  });
});
