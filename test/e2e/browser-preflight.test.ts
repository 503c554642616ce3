import { expect } from 'chai';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { MiB } from '../../src/protocol/index.js';
import { launchChromium } from '../support/browser.js';
import { browserClientScript } from '../support/browser-client.js';
import { randomFile, tempDir } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * In real Chromium: refusals before hashing (the page and the browser client send a preflight
 * before reading the file), and a wrong URL on another origin, which used to retry for 20 s and
 * end in E_UNREACHABLE because CORS hid the probe's answer.
 */

type Client = typeof import('../../src/client/browser.js');

/** What one upload in the page did: its error code and message, the phases it went through, its hash progress events. */
interface Outcome { code?: string; message?: string; phases: string[]; hashEvents: number; md5?: string }

/** Uploads the file in `#file` with the browser client and `options`, in the page. */
function uploadInPage(page: Page, options: Record<string, unknown>): Promise<Outcome> {
  return page.evaluate(async (options) => {
    const { createUploader } = (window as unknown as { upwireClient: Client }).upwireClient;
    const picked = document.querySelector<HTMLInputElement>('#file')!.files![0]!;
    const uploader = await createUploader(picked, { hashCache: false, ...(options as { url: string }) });
    const outcome: Outcome = { phases: [], hashEvents: 0 };
    uploader.on('phase', (phase) => outcome.phases.push(phase));
    uploader.on('hash-progress', () => outcome.hashEvents++);
    try {
      outcome.md5 = (await uploader.start()).md5;
    } catch (err) {
      Object.assign(outcome, { code: (err as { code?: string }).code, message: (err as Error).message });
    }
    return outcome;
  }, options);
}

async function sparseFile(dir: string, size: number, name: string): Promise<string> {
  const path = join(dir, name);
  const handle = await open(path, 'w');
  await handle.truncate(size);
  await handle.close();
  return path;
}

describe('refusal before hashing, and a wrong URL of another origin, in real Chromium', function () {
  let browser: Browser;
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let big: string;
  let page: Page;
  let script: string;
  const pageErrors: string[] = [];

  before(async () => {
    browser = await launchChromium();
    dir = await tempDir();
    big = await sparseFile(dir.path, 1024 * MiB, 'one-gib.bin');
    script = await browserClientScript();
    server = await startTestServer({ uploadToken: 'right', maxFileSize: 10 * MiB });
  });
  after(async () => {
    await server.stop();
    await browser.close();
    await dir.remove();
  });
  beforeEach(async () => {
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterEach(async () => {
    await page.close();
    expect(pageErrors, 'uncaught errors in the page').to.deep.equal([]);
  });

  /** A page of `origin` with the browser client loaded and `path` in an input `#file`. */
  async function clientPage(origin: string, path: string): Promise<void> {
    await page.goto(`${origin}/healthz`);
    await page.addScriptTag({ content: script });
    await page.evaluate(() => document.body.append(Object.assign(document.createElement('input'), { type: 'file', id: 'file' })));
    await page.setInputFiles('#file', path);
  }

  it('the page refuses 1 GiB above a 10 MiB limit without hashing it', async () => {
    await page.goto(server.url);
    await page.waitForSelector('#token-dialog[open]');
    await page.fill('#token-input', 'right');
    await page.keyboard.press('Enter');
    await page.setInputFiles('#picker', [big]);
    // The page knows the server's limit (written into it) and refuses the file itself; were it not
    // written there, the preflight's E_TOO_LARGE would: either way before any hashing.
    const row = page.locator('li.upload[data-phase="refused"], li.upload[data-phase="failed"][data-error="E_TOO_LARGE"]');
    await row.waitFor();
    expect(await row.getAttribute('data-hash-passes')).to.equal('0');
  });

  it('the browser client: a wrong token is refused before any hashing', async () => {
    await clientPage(server.url, big);
    const outcome = await uploadInPage(page, { url: server.url, token: 'wrong' });
    expect(outcome).to.deep.equal({ code: 'E_UNAUTHORIZED', message: 'the server refused the token', phases: ['connecting', 'failed'], hashEvents: 0 });
  });

  it('the browser client: a file above the limit is refused before any hashing', async () => {
    await clientPage(server.url, big);
    const outcome = await uploadInPage(page, { url: server.url, token: 'right' });
    expect(outcome).to.deep.include({ code: 'E_TOO_LARGE', phases: ['connecting', 'failed'], hashEvents: 0 });
  });

  describe('a server of another origin (another port)', () => {
    let other: TestServer;
    before(async () => {
      other = await startTestServer();
    });
    after(async () => {
      await other.stop();
    });

    it('a URL with a path where no upwire is: E_NOT_FOUND, not 20 s of retries and E_UNREACHABLE', async () => {
      const file = await randomFile(dir.path, 1000, 'small.bin');
      await clientPage(server.url, file.path);
      const outcome = await uploadInPage(page, { url: `${other.url}/api` });
      expect(outcome.code, outcome.message).to.equal('E_NOT_FOUND');
      expect(outcome.message).to.equal(`${other.url}/api answers, but not as a socket.io server at /api/socket.io (check the URL's path, and the path option)`);
      expect(outcome.phases).to.deep.equal(['connecting', 'failed']);
    });

    it('the right URL uploads from the other origin', async () => {
      const file = await randomFile(dir.path, 300_000, 'cross-origin.bin');
      await clientPage(server.url, file.path);
      const outcome = await uploadInPage(page, { url: other.url });
      expect(outcome.code, outcome.message).to.equal(undefined);
      expect(outcome.md5).to.equal(file.md5);
    });
  });
});
