/*
 * The page as a list of uploads one manages (issue 21, after Uppy's Dashboard): retry, remove and
 * clear, overall progress, pause all, pause while hashing, restrictions checked before hashing,
 * drops outside the drop zone, the beforeunload guard, the token dialog's message, "Loading…".
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { UpwireError } from '../../src/protocol/index.js';
import { launchChromium } from '../support/browser.js';
import { startEmbedded, type Embedded } from '../support/embedded.js';
import { md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { dropFiles, hashWorkers, holdHashing, releaseHashing } from '../support/page.js';
import { startProxy, type Proxy } from '../support/proxy.js';
import { startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

describe('the upload page as a dashboard, in real Chromium', function () {
  let browser: Browser;
  let server: TestServer | Embedded;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let page: Page;
  let proxy: Proxy | undefined;
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
    pageErrors.length = 0;
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterEach(async () => {
    if (!page.isClosed()) await page.close();
    await proxy?.close();
    proxy = undefined;
    await server.stop();
    await dir.remove();
    expect(pageErrors, 'uncaught errors in the page').to.deep.equal([]);
  });

  const uploadDir = () => ('config' in server ? server.config.uploadDir : server.uploadDir);
  const row = (name: string) => page.locator('li.upload', { has: page.locator(`.name:text-is("${name}")`) });

  /** A server whose onUploadCreate refuses (E_FORBIDDEN) while `refusing.now` is true. */
  async function refusingServer(): Promise<{ refusing: { now: boolean } }> {
    await server.stop();
    const refusing = { now: true };
    server = await startEmbedded({
      hooks: {
        onUploadCreate: () => {
          if (refusing.now) throw new UpwireError('E_FORBIDDEN', 'uploads are closed for a moment');
        },
      },
    });
    return { refusing };
  }

  it('a failed row has a Retry that uploads the file; Remove takes the row away', async () => {
    const { refusing } = await refusingServer();
    const file = await randomFile(dir.path, 5 * CHUNK + 3, 'report.pdf');
    await page.goto(server.url);
    await page.setInputFiles('#picker', [file.path]);
    await page.waitForSelector('li.upload[data-phase="failed"]');
    expect(await row('report.pdf').locator('.message').textContent()).to.equal('Refused by the server: uploads are closed for a moment.');
    expect(await row('report.pdf').locator('.phase').textContent()).to.equal('failed');

    refusing.now = false;
    await page.getByRole('button', { name: 'Retry report.pdf' }).click();
    await page.waitForSelector('li.upload[data-phase="done"]');
    expect(md5Of(await readFile(storedPath(uploadDir(), file.md5)))).to.equal(file.md5);
    expect(await page.locator('li.upload').count()).to.equal(1); // the same row, not a new one
    expect(await row('report.pdf').getAttribute('data-error')).to.equal(null);

    await page.getByRole('button', { name: 'Remove report.pdf' }).click();
    expect(await page.locator('li.upload').count()).to.equal(0);
    expect(await page.locator('#queue-panel').isHidden()).to.equal(true);
  });

  it('shows the progress of all files; Clear finished removes the stored ones and keeps a failed one', async () => {
    const { refusing } = await refusingServer();
    const a = await randomFile(dir.path, 8 * CHUNK, 'a.bin');
    await page.goto(server.url);
    await page.setInputFiles('#picker', [a.path]);
    await page.waitForSelector('li.upload[data-phase="failed"]');
    refusing.now = false;
    const b = await randomFile(dir.path, 12 * CHUNK, 'b.bin');
    const c = await randomFile(dir.path, 4 * CHUNK, 'c.bin');
    await page.setInputFiles('#picker', [b.path, c.path]);
    await page.waitForSelector('li.upload[data-phase="done"] >> nth=1');
    // The failed file counts in no total: the two others are the whole of it.
    expect(await page.locator('#queue-summary').textContent()).to.equal('2 of 2 files done · 1 failed · 1.0 MiB of 1.0 MiB');
    expect(await page.$eval('#overall-bar', (bar) => (bar as HTMLProgressElement).value)).to.equal(100);

    await page.getByRole('button', { name: 'Clear finished' }).click();
    expect(await page.locator('li.upload .name').allTextContents()).to.deep.equal(['a.bin']);
    expect(await page.locator('#clear-finished').isHidden()).to.equal(true);
  });

  it('Pause all stops every file, hides speed and time left, and Resume all finishes them', async () => {
    proxy = await startProxy(server.url, 512 * 1024);
    const a = await randomFile(dir.path, 48 * CHUNK, 'first.bin');
    const b = await randomFile(dir.path, 48 * CHUNK, 'second.bin');
    const c = await randomFile(dir.path, 8 * CHUNK, 'third.bin'); // waits: two files run at a time
    await page.goto(proxy.url);
    await page.setInputFiles('#picker', [a.path, b.path, c.path]);
    await page.waitForSelector('li.upload[data-phase="uploading"]');
    expect(await row('third.bin').getAttribute('data-phase')).to.equal('queued');
    await page.click('#pause-all');
    for (const name of ['first.bin', 'second.bin', 'third.bin']) {
      await page.waitForSelector(`li.upload[data-phase="paused"] .name:text-is("${name}")`);
      expect(await row(name).locator('.stats').textContent(), name).to.equal('');
    }
    expect(await page.locator('#queue-summary').textContent()).to.not.match(/\/s|left/);
    expect(await page.locator('#pause-all').isHidden()).to.equal(true);
    expect(await page.evaluate(() => document.documentElement.dataset.busy)).to.equal('false');

    proxy.throttle(0);
    await page.click('#resume-all');
    await page.waitForSelector('li.upload[data-phase="done"] >> nth=2');
    for (const file of [a, b, c]) expect(md5Of(await readFile(storedPath(uploadDir(), file.md5)))).to.equal(file.md5);
  });

  it('pauses while hashing: the hash worker is stopped, nothing reaches the server, and Resume hashes again and uploads', async () => {
    await holdHashing(page);
    const file = await randomFile(dir.path, 6 * CHUNK, 'video.mov');
    await page.goto(server.url);
    await page.setInputFiles('#picker', [file.path]);
    await page.waitForFunction(() => (window as unknown as { hashWorkers: { held: unknown[] } }).hashWorkers.held.length === 1);
    expect(await row('video.mov').getAttribute('data-phase')).to.equal('hashing');

    await page.getByRole('button', { name: 'Pause video.mov' }).click();
    expect(await row('video.mov').getAttribute('data-phase')).to.equal('paused');
    expect(await hashWorkers(page)).to.deep.include({ started: 1, terminated: 1 });
    // The worker's answer, were it let through now, comes from a stopped pass: nothing goes on.
    await releaseHashing(page);
    expect(await row('video.mov').getAttribute('data-phase')).to.equal('paused');
    expect(await page.evaluate(() => document.documentElement.dataset.busy)).to.equal('false');
    const listing = (await (await fetch(`${server.url}/files`)).json()) as { files: unknown[] };
    expect(listing.files).to.deep.equal([]);

    await page.getByRole('button', { name: 'Resume video.mov' }).click();
    await page.waitForSelector('li.upload[data-phase="done"]');
    expect((await hashWorkers(page)).started).to.equal(2);
    expect(await row('video.mov').getAttribute('data-md5')).to.equal(file.md5);
  });

  it('refuses, before hashing, a file of a type, size or count the page settings exclude, with a message', async () => {
    const small = await randomFile(dir.path, 1000, 'notes.pdf');
    const other = await randomFile(dir.path, 1000, 'other.pdf');
    const third = await randomFile(dir.path, 1000, 'third.pdf');
    const big = await randomFile(dir.path, 20 * 1024, 'scan.pdf');
    const exe = await randomFile(dir.path, 1000, 'tool.exe');
    await page.goto(`${server.url}/?accept=.pdf&maxFileSize=10KiB&maxFiles=2`);
    expect(await page.locator('#limits').textContent()).to.equal('This page takes up to 10.0 KiB a file; .pdf only; at most 2 files.');
    expect(await page.getAttribute('#picker', 'accept')).to.equal('.pdf');
    await page.setInputFiles('#picker', [exe.path, big.path, small.path, other.path, third.path]);
    await page.waitForSelector('li.upload[data-phase="done"] >> nth=1');
    const rows = await page.$$eval('li.upload', (els) => els.map((e) => ({
      name: e.querySelector('.name')!.textContent, phase: e.dataset.phase, refused: e.dataset.refused, hashed: e.dataset.hashPasses, message: e.querySelector('.message')!.textContent,
    })));
    expect(rows).to.deep.equal([
      { name: 'third.pdf', phase: 'refused', refused: 'count', hashed: '0', message: 'Not added: at most 2 files at a time. Remove one to add another.' },
      { name: 'other.pdf', phase: 'done', refused: undefined, hashed: '1', message: `Stored and verified (md5 ${other.md5}).` },
      { name: 'notes.pdf', phase: 'done', refused: undefined, hashed: '1', message: `Stored and verified (md5 ${small.md5}).` },
      { name: 'scan.pdf', phase: 'refused', refused: 'size', hashed: '0', message: 'Not sent: 20.0 KiB is above the limit of 10.0 KiB.' },
      { name: 'tool.exe', phase: 'refused', refused: 'type', hashed: '0', message: 'Not sent: this page takes only .pdf files.' },
    ]);
    const listing = (await (await fetch(`${server.url}/files`)).json()) as { files: { md5: string }[] };
    expect(listing.files.map((f) => f.md5).sort()).to.deep.equal([small.md5, other.md5].sort());
    // A refused row has only Remove; removing a counted file frees its place.
    expect(await row('third.pdf').locator('button:visible').allTextContents()).to.deep.equal(['Remove']);
    await page.getByRole('button', { name: 'Remove notes.pdf' }).click();
    await page.setInputFiles('#picker', [third.path]);
    await page.waitForSelector('li.upload[data-phase="done"] .name:text-is("third.pdf")');
  });

  it('a file dropped outside the drop zone does not replace the page: it joins the list', async () => {
    await page.goto(server.url);
    const outside = await dropFiles(page, 'body', [{ name: 'dropped.txt', type: 'text/plain', text: 'dropped outside the zone' }]);
    expect(outside).to.deep.equal({ dragover: true, drop: true });
    await page.waitForSelector('li.upload[data-phase="done"] .name:text-is("dropped.txt")');
    const onZone = await dropFiles(page, '#drop', [{ name: 'on-zone.txt', type: 'text/plain', text: 'dropped on the zone' }]);
    expect(onZone).to.deep.equal({ dragover: true, drop: true });
    await page.waitForSelector('li.upload[data-phase="done"] .name:text-is("on-zone.txt")');
    expect(new URL(page.url()).pathname).to.equal('/');
    // A drag of text (a selection, a link) is not the page's to take.
    const text = await page.evaluate(() => {
      const data = new DataTransfer();
      data.setData('text/plain', 'hello');
      const event = new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true });
      document.body.dispatchEvent(event);
      return event.defaultPrevented;
    });
    expect(text).to.equal(false);
  });

  it('asks before the tab is closed or reloaded only while a file is hashing or uploading', async () => {
    proxy = await startProxy(server.url, 512 * 1024);
    const file = await randomFile(dir.path, 48 * CHUNK, 'big.iso');
    await page.goto(proxy.url);
    await page.click('h1'); // Chromium asks only on a page the person has interacted with
    expect(await page.evaluate(() => window.onbeforeunload)).to.equal(null);
    await page.setInputFiles('#picker', [file.path]);
    await page.waitForSelector('li.upload[data-phase="uploading"]');
    // A reload (this Chromium asks on a navigation; page.close's runBeforeUnload shows no dialog here).
    const dialog = page.waitForEvent('dialog');
    void page.evaluate(() => location.reload()).catch(() => {});
    const asked = await dialog;
    expect(asked.type()).to.equal('beforeunload');
    await asked.dismiss(); // stay
    expect(await page.locator('li.upload .name').allTextContents()).to.deep.equal(['big.iso']);

    await page.getByRole('button', { name: 'Pause big.iso' }).click();
    expect(await page.evaluate(() => window.onbeforeunload)).to.equal(null);
    proxy.throttle(0);
    await page.getByRole('button', { name: 'Resume big.iso' }).click();
    expect(await page.evaluate(() => typeof window.onbeforeunload)).to.equal('function');
    await page.waitForSelector('li.upload[data-phase="done"]');
    expect(await page.evaluate(() => window.onbeforeunload)).to.equal(null);
    let askedAgain = false;
    page.on('dialog', (d) => {
      askedAgain = true;
      void d.accept();
    });
    await page.reload();
    expect(await page.locator('li.upload').count()).to.equal(0);
    expect(askedAgain).to.equal(false);
  });

  it('a refused token opens the dialog again saying so, and "Loading…" stands until the list has loaded', async () => {
    await server.stop();
    server = await startTestServer({ uploadToken: 'open-sesame', chunkSize: CHUNK });
    await page.goto(server.url);
    await page.waitForSelector('#token-dialog[open]');
    expect(await page.locator('#token-error').textContent()).to.equal('');
    expect(await page.locator('#stored-loading').textContent()).to.equal('Loading…');
    expect(await page.locator('#stored-empty').isHidden()).to.equal(true);
    await page.fill('#token-input', 'wrong');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#token-dialog[open]');
    await page.waitForFunction(() => document.querySelector('#token-error')!.textContent !== '');
    expect(await page.locator('#token-error').textContent()).to.equal('The server refused that token. Check it and try again.');
    expect(await page.locator('#token-input').inputValue()).to.equal('');

    // The list's answer held back: "Loading…", not "No files yet.", until it comes.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/files', async (route) => {
      await held;
      await route.continue();
    });
    await page.fill('#token-input', 'open-sesame');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#token-dialog:not([open])', { state: 'attached' });
    expect(await page.locator('#stored-loading').isVisible()).to.equal(true);
    expect(await page.locator('#stored-empty').isHidden()).to.equal(true);
    release();
    await page.waitForSelector('#stored-empty:visible');
    expect(await page.locator('#stored-loading').isHidden()).to.equal(true);
  });
});
