/*
 * The page's accessibility in real Chromium (issue 21): axe-core finds no serious or critical
 * violation in its main states; contrast of badges and button borders; one live region that says
 * phase changes only; every row action named with its file and reachable by keyboard alone.
 */
import { expect } from 'chai';
import type { Browser, FileChooser, Page } from 'playwright-core';
import { UpwireError } from '../../src/protocol/index.js';
import { launchChromium } from '../support/browser.js';
import { startEmbedded, type Embedded } from '../support/embedded.js';
import { eventually, randomFile, tempDir } from '../support/fixtures.js';
import { contrasts, seriousViolations } from '../support/page.js';
import { startProxy, type Proxy } from '../support/proxy.js';
import { startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

describe('the upload page\'s accessibility, in real Chromium', function () {
  let browser: Browser;
  let server: TestServer | Embedded;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let page: Page;
  let proxy: Proxy | undefined;
  const refusing = { now: false };
  const pageErrors: string[] = [];

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
  });
  beforeEach(async () => {
    // onUploadCreate refuses what it is told to: a failed row on demand, then a Retry that works.
    refusing.now = false;
    server = await startEmbedded({
      hooks: {
        onUploadCreate: ({ name }) => {
          if (refusing.now && name.startsWith('refused')) throw new UpwireError('E_FORBIDDEN', 'not now');
        },
      },
    });
    dir = await tempDir();
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    pageErrors.length = 0;
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterEach(async () => {
    await page.close();
    await proxy?.close();
    proxy = undefined;
    await server.stop();
    await dir.remove();
    expect(pageErrors, 'uncaught errors in the page').to.deep.equal([]);
  });

  /** Presses Tab (or Shift+Tab) until the focused element is named `name` (its aria-label, else its id); fails after `limit` presses. */
  async function tabTo(name: string, key: 'Tab' | 'Shift+Tab' = 'Tab', limit = 40): Promise<void> {
    const visited: unknown[] = [];
    for (let i = 0; i < limit; i++) {
      await page.keyboard.press(key);
      const focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.id);
      if (focused === name) return;
      visited.push(focused);
    }
    throw new Error(`${name} is not reachable with ${key}: focus went to ${visited.join(', ')}`);
  }

  /** The focused element draws a focus ring (for the hidden file input: its label does). */
  async function focusVisible(): Promise<boolean> {
    return page.evaluate(() => {
      let element = document.activeElement!;
      if (element.id === 'picker') element = element.nextElementSibling!;
      const style = getComputedStyle(element);
      return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    });
  }

  it('axe-core: no serious or critical violation when empty, uploading, with a failed row, and in the token dialog', async () => {
    proxy = await startProxy(server.url, 512 * 1024);
    await page.goto(proxy.url);
    await page.waitForSelector('#live-state:text("live")');
    expect(await seriousViolations(page), 'empty').to.deep.equal([]);

    refusing.now = true;
    const failed = await randomFile(dir.path, 2 * CHUNK, 'refused.pdf');
    const done = await randomFile(dir.path, 2 * CHUNK, 'small.txt');
    const slow = await randomFile(dir.path, 48 * CHUNK, 'slow.iso');
    const paused = await randomFile(dir.path, 48 * CHUNK, 'paused.iso');
    await page.setInputFiles('#picker', [failed.path, done.path]);
    await page.waitForSelector('li.upload[data-phase="failed"]');
    await page.waitForSelector('li.upload[data-phase="done"]');
    await page.setInputFiles('#picker', [slow.path, paused.path]);
    await page.waitForSelector('li.upload[data-phase="uploading"]');
    await page.getByRole('button', { name: 'Pause paused.iso' }).click();
    await page.waitForSelector('li.upload[data-phase="paused"]');
    expect(await seriousViolations(page), 'uploading, paused, done and failed rows').to.deep.equal([]);
    // Every badge's text 4.5:1 on its background; every button's border 3:1 against what is behind it.
    for (const { text, ratio } of await contrasts(page, '.badge', 'color')) expect(ratio, `badge "${text}"`).to.be.at.least(4.5);
    for (const { text, ratio } of await contrasts(page, 'button', 'border-top-color')) expect(ratio, `border of "${text}"`).to.be.at.least(3);
  });

  it('axe-core: no serious or critical violation with the token dialog open, first and after a refused token', async () => {
    await server.stop();
    server = await startTestServer({ uploadToken: 'open-sesame', chunkSize: CHUNK });
    await page.goto(server.url);
    await page.waitForSelector('#token-dialog[open]');
    expect(await seriousViolations(page), 'token dialog').to.deep.equal([]);
    await page.fill('#token-input', 'wrong');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#token-error')!.textContent !== '');
    expect(await seriousViolations(page), 'token dialog, token refused').to.deep.equal([]);
  });

  it('the list is not a live region; one polite region says each file\'s phase changes in a few words', async () => {
    refusing.now = true;
    const report = await randomFile(dir.path, 3 * CHUNK, 'report.pdf');
    const refused = await randomFile(dir.path, 3 * CHUNK, 'refused.doc');
    await page.goto(server.url);
    expect(await page.$$eval('[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]', (els) => els.map((e) => e.id))).to.deep.equal(['announcer', 'token-error']);
    expect(await page.getAttribute('#announcer', 'aria-live')).to.equal('polite');
    await page.setInputFiles('#picker', [report.path, refused.path]);
    await page.waitForSelector('li.upload[data-phase="done"]');
    await page.waitForSelector('li.upload[data-phase="failed"]');
    const said = await page.locator('#announcer p').allTextContents();
    expect(said).to.include.members(['2 files added', 'report.pdf uploaded', 'refused.doc failed. Refused by the server: not now.']);
    // Nothing about bytes, speed or hashing: only what a person acts on.
    expect(said.join(' ')).to.not.match(/%|\/s|hashing|uploading/);
  });

  it('by keyboard alone: choose a file, pause, resume, retry a failed one, remove it; focus always visible', async () => {
    proxy = await startProxy(server.url, 512 * 1024);
    const big = await randomFile(dir.path, 48 * CHUNK, 'movie.mkv');
    const refused = await randomFile(dir.path, 2 * CHUNK, 'refused.pdf');
    // Listened to before the page loads: Playwright intercepts the file dialog only once it has told
    // Chromium to, and a waitForEvent made just before the key press can lose that race.
    const choosers: FileChooser[] = [];
    page.on('filechooser', (chooser) => choosers.push(chooser));
    const choose = async (key: string, path: string) => {
      await page.keyboard.press(key);
      await eventually(() => choosers.length > 0, 10_000, 'the file dialog');
      await choosers.shift()!.setFiles([path]);
    };
    await page.goto(proxy.url);

    await tabTo('picker');
    expect(await focusVisible(), 'the drop zone shows the focus').to.equal(true);
    await choose('Space', big.path);
    await page.waitForSelector('li.upload[data-phase="uploading"]');

    await tabTo('Pause movie.mkv');
    expect(await focusVisible()).to.equal(true);
    await page.keyboard.press('Enter');
    await page.waitForSelector('li.upload[data-phase="paused"]');
    // The same button, now Resume, keeps the focus.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).to.equal('Resume movie.mkv');
    proxy.throttle(0);
    await page.keyboard.press('Space');
    await page.waitForSelector('li.upload[data-phase="done"]');

    // Pause and Cancel went away with the upload under the focus, which moved to the row's Remove.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).to.equal('Remove movie.mkv');
    refusing.now = true;
    await tabTo('picker', 'Shift+Tab');
    await choose('Enter', refused.path);
    await page.waitForSelector('li.upload[data-phase="failed"]');
    refusing.now = false;
    await tabTo('Retry refused.pdf');
    expect(await focusVisible()).to.equal(true);
    await page.keyboard.press('Enter');
    await page.waitForSelector('li.upload[data-phase="done"] >> nth=1');
    // Retry went away under the focus: it moved to the row's remaining action, not to the top of the page.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).to.equal('Remove refused.pdf');
    await page.keyboard.press('Enter');
    expect(await page.locator('li.upload .name').allTextContents()).to.deep.equal(['movie.mkv']);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).to.equal('Remove movie.mkv');
    expect(await focusVisible()).to.equal(true);
  });

  it('every action of a row is named with its file', async () => {
    refusing.now = true;
    const file = await randomFile(dir.path, 2 * CHUNK, 'refused-q3.xlsx');
    await page.goto(server.url);
    await page.setInputFiles('#picker', [file.path]);
    await page.waitForSelector('li.upload[data-phase="failed"]');
    const names = await page.$$eval('li.upload button', (buttons) => buttons.map((b) => ({ label: b.getAttribute('aria-label'), text: b.textContent })));
    // Hidden or not, each names its file and begins with the words on it (WCAG 2.5.3, label in name).
    expect(names).to.have.length(4);
    for (const { label, text } of names) expect(label).to.equal(`${text} refused-q3.xlsx`);
    expect(await page.getByRole('button', { name: 'Retry refused-q3.xlsx' }).isVisible()).to.equal(true);
    expect(await page.getByRole('button', { name: 'Remove refused-q3.xlsx' }).isVisible()).to.equal(true);
  });
});
