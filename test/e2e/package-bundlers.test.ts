/*
 * A browser app that does `import { upload } from 'upwire'`, bundled by esbuild and by Vite from a
 * project that installed the packed tarball, served from an origin that is not the upwire server's,
 * and driven in real Chromium to a completed upload. It proves the `browser` export condition (the
 * Node client would fail on node:crypto or on a File) and the worker built into the package: the app
 * hosts no worker file, and the server's /assets/hash-worker.js would be cross-origin.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/browser.js';
import { md5Of, randomFile, skipWithout, storedPath, tempDir } from '../support/fixtures.js';
import { consumerProject } from '../support/package-project.js';
import { serveDirectory, type StaticServer } from '../support/package-static.js';
import { startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>an app that uploads with upwire</title></head>
<body><input type="file" id="picker"><output id="result"></output><script type="module" src="./main.js"></script></body></html>
`;

/** The app: the server's URL comes in the query string (its port is known only at run time). */
const MAIN_JS = `import { upload } from 'upwire';

const picker = document.querySelector('#picker');
const result = document.querySelector('#result');
picker.addEventListener('change', async () => {
  try {
    const done = await upload(picker.files[0], { url: new URLSearchParams(location.search).get('server') });
    result.dataset.md5 = done.md5;
    result.dataset.state = 'done';
  } catch (err) {
    result.dataset.error = err.code + ': ' + err.message;
    result.dataset.state = 'failed';
  }
});
`;

interface PageRun { state: string; md5?: string; error?: string; workers: string[]; console: string[] }

describe('upwire bundled into a browser app (esbuild, Vite) from the packed tarball', function () {
  this.timeout(120_000);
  let browser: Browser;
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const statics: StaticServer[] = [];
  const built: { esbuild?: string; vite?: string } = {};
  let app: string;

  before(async function () {
    if (!existsSync(CHROMIUM)) skipWithout(this, `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
    const project = await consumerProject('client');
    app = join(project, 'app');
    await mkdir(app, { recursive: true });
    await Promise.all([writeFile(join(app, 'index.html'), INDEX_HTML), writeFile(join(app, 'main.js'), MAIN_JS)]);
    [browser, server, dir] = await Promise.all([launchChromium(), startTestServer({ chunkSize: CHUNK }), tempDir()]);
  });
  after(async () => {
    await Promise.all(statics.map((s) => s.close()));
    await browser?.close();
    await server?.stop();
    await dir?.remove();
  });

  /** Serves `root` on an origin of its own, picks a fresh file in the app and waits for its end. */
  async function uploadThrough(root: string, headers: Record<string, string> = {}): Promise<PageRun & { file: { md5: string; data: Buffer } }> {
    const site = await serveDirectory(root, headers);
    statics.push(site);
    const file = await randomFile(dir.path, 40 * CHUNK + 17, `picked-${statics.length}.bin`);
    const page: Page = await browser.newPage();
    const workers: string[] = [];
    const messages: string[] = [];
    page.on('worker', (worker) => workers.push(worker.url()));
    page.on('console', (message) => messages.push(message.text()));
    page.on('pageerror', (err) => messages.push(`pageerror: ${err.message}`));
    try {
      await page.goto(`${site.url}/index.html?server=${encodeURIComponent(server.url)}`);
      await page.setInputFiles('#picker', file.path);
      const result = page.locator('#result[data-state]');
      await result.waitFor({ state: 'attached', timeout: 60_000 });
      const data = await result.evaluate((el) => ({ ...(el as HTMLElement).dataset }));
      return { state: data.state!, md5: data.md5, error: data.error, workers, console: messages, file };
    } finally {
      await page.close();
    }
  }

  async function expectStored(run: PageRun & { file: { md5: string; data: Buffer } }): Promise<void> {
    expect(run.state, `${run.error} / console: ${run.console.join(' | ')}`).to.equal('done');
    expect(run.md5).to.equal(run.file.md5);
    const stored = await readFile(storedPath(server.config.uploadDir, run.file.md5));
    expect(md5Of(stored)).to.equal(run.file.md5);
    expect(stored.equals(run.file.data)).to.equal(true);
  }

  it('esbuild: bundles the browser client and uploads a picked File from another origin', async () => {
    const { build } = await import('esbuild');
    const out = join(app, '..', 'dist-esbuild');
    await build({ absWorkingDir: app, entryPoints: ['main.js'], bundle: true, format: 'esm', platform: 'browser', outdir: out, logLevel: 'silent' });
    await copyFile(join(app, 'index.html'), join(out, 'index.html'));
    built.esbuild = out;
    const run = await uploadThrough(out);
    await expectStored(run);
    // The hash worker ran from a Blob URL of the app's own origin: nothing was fetched from the server for it.
    expect(run.workers).to.have.length(1);
    expect(run.workers[0]).to.match(/^blob:http:\/\/127\.0\.0\.1:\d+\//);
    expect(run.console.join('\n')).not.to.match(/hashing on the main thread/);
  });

  it('Vite: builds the app and uploads a picked File from another origin', async () => {
    const { build } = await import('vite');
    const out = join(app, '..', 'dist-vite');
    await build({ root: app, configFile: false, base: './', logLevel: 'silent', build: { outDir: out, emptyOutDir: true } });
    built.vite = out;
    const run = await uploadThrough(out);
    await expectStored(run);
    expect(run.workers).to.have.length(1);
    expect(run.workers[0]).to.match(/^blob:http:\/\/127\.0\.0\.1:\d+\//);
  });

  it('hashes on the main thread when the page\'s CSP refuses workers, and still uploads', async function () {
    if (!built.esbuild) return this.skip(); // the esbuild test failed: its failure says why
    const run = await uploadThrough(built.esbuild, { 'content-security-policy': "worker-src 'none'" });
    await expectStored(run);
    // Chromium constructs the worker, then fails it with an error event.
    expect(run.console.join('\n')).to.match(/violates the following Content Security Policy directive: "worker-src 'none'"/);
    expect(run.console.join('\n')).to.match(/upwire: cannot (start|load) the hash worker\b.*; hashing on the main thread/);
  });
});
