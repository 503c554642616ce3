/*
 * The page's Delete row action in real Chromium: a button per stored file, named with the file's
 * name, that asks for a confirmation and removes the row once the server has deleted the file;
 * none where the server does not let the caller delete.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { upload } from '../../src/client/node.js';
import { launchChromium } from '../support/browser.js';
import { randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('the page: deleting a stored file (Chromium)', function () {
  this.timeout(60_000);
  let browser: Browser;
  let server: TestServer | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => (browser = await launchChromium()));
  after(() => browser.close());
  beforeEach(async () => {
    dir = await tempDir();
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterEach(async () => {
    await page.close();
    await server?.stop();
    server = undefined;
    await dir.remove();
    expect(pageErrors.splice(0), 'uncaught errors in the page').to.deep.equal([]);
  });

  it('deletes a file after a confirmation (dismissed: nothing happens), by a button named with the file', async () => {
    server = await startTestServer({ uploadToken: 'up' });
    const keep = await randomFile(dir.path, 5000, 'keep me.txt');
    const gone = await randomFile(dir.path, 7000, 'report <2024>.pdf');
    for (const file of [keep, gone]) await upload(file.path, { url: server.url, token: 'up', hashCache: false });
    await page.goto(server.url);
    await page.waitForSelector('#token-dialog[open]');
    await page.fill('#token-input', 'up');
    await page.keyboard.press('Enter');
    const button = page.getByRole('button', { name: 'Delete report <2024>.pdf' });
    await button.waitFor();
    expect(await page.getByRole('button', { name: 'Delete keep me.txt' }).count()).to.equal(1);

    const prompts: string[] = [];
    page.once('dialog', (dialog) => {
      prompts.push(dialog.message());
      void dialog.dismiss();
    });
    await button.click();
    expect(prompts).to.deep.equal(['Delete report <2024>.pdf from the server? This cannot be undone.']);
    expect(existsSync(storedPath(server.config.uploadDir, gone.md5)), 'dismissed: kept').to.equal(true);
    expect(await page.locator(`#stored li[data-md5="${gone.md5}"]`).count()).to.equal(1);

    page.once('dialog', (dialog) => void dialog.accept());
    await button.click();
    await page.locator(`#stored li[data-md5="${gone.md5}"]`).waitFor({ state: 'detached' });
    expect(existsSync(storedPath(server.config.uploadDir, gone.md5))).to.equal(false);
    expect((await fetch(`${server.url}/files/${gone.md5}`, { headers: { authorization: 'Bearer up' } })).status).to.equal(404);
    expect(await page.locator(`#stored li[data-md5="${keep.md5}"]`).count(), 'the other row stays').to.equal(1);

    // Deleted meanwhile by another client: the row goes, with no error (the file is gone either way).
    await fetch(`${server.url}/files/${keep.md5}`, { method: 'DELETE', headers: { authorization: 'Bearer up' } });
    // From the keyboard: focus the button, Enter, accept.
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Delete keep me.txt' }).focus();
    await page.keyboard.press('Enter');
    await page.locator(`#stored li[data-md5="${keep.md5}"]`).waitFor({ state: 'detached', timeout: 10_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nthe row: ${await page.locator(`#stored li[data-md5="${keep.md5}"]`).innerText()}`);
    });
    expect(await page.locator('#stored-empty').isVisible()).to.equal(true);
  });

  it('shows no Delete button where the caller may not delete (a server without a token)', async () => {
    server = await startTestServer({}); // no token: DELETES=auth refuses
    const file = await randomFile(dir.path, 5000, 'open.txt');
    await upload(file.path, { url: server.url, hashCache: false });
    await page.goto(server.url);
    await page.locator(`#stored li[data-md5="${file.md5}"] a`).waitFor();
    expect(await page.locator('#stored button.delete').count()).to.equal(0);
  });
});
