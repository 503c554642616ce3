/*
 * Debian's Chromium (the tests' CHROMIUM, with their flags) driven over the DevTools pipe with the
 * few commands the browser-upload bench needs, and no others. Not Playwright, for the page being
 * measured: Playwright enables the Network domain on every page and worker it attaches to, and
 * Chromium then copies each WebSocket message, base64-encoded, into a Network.webSocketFrameSent
 * event for it. Under Playwright the upwire page sent 1 GiB at 3-4 MiB/s where the same page,
 * undriven, sent at 19 (bench/browser-upload.ts); an XHR body is not reported that way, so
 * tus-js-client would not pay it. Nothing here enables a domain that reports traffic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { tempDir } from '../test/support/fixtures.js';
import { CHROMIUM } from '../test/support/browser.js';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

type Send = (method: string, params?: object, sessionId?: string) => Promise<Record<string, unknown>>;

export interface PipePage {
  send(method: string, params?: object): Promise<Record<string, unknown>>;
  /** Evaluates an expression in the page (a promise is awaited) and returns its value as JSON. */
  evaluate<T>(expression: string): Promise<T>;
  /** Picks `path` in the page's `<input type=file>` at `selector`, as a person would. */
  pickFile(selector: string, path: string): Promise<void>;
}

export interface PipeBrowser {
  child: ChildProcess;
  newPage(url: string): Promise<PipePage>;
  close(): Promise<void>;
}

/** Starts Chromium; `prefix` runs it under another command (`ip netns exec <ns>`, which keeps the pipe's descriptors). */
export async function launchPipeChromium(prefix: string[] = []): Promise<PipeBrowser> {
  const profile = await tempDir('upwire-chromium-');
  const [command, ...args] = [...prefix, CHROMIUM, ...FLAGS, '--remote-debugging-pipe', `--user-data-dir=${profile.path}`, 'about:blank'];
  const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
  const out = child.stdio[3] as Writable;
  const input = child.stdio[4] as Readable;
  const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let buffered = Buffer.alloc(0);
  input.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    for (let end = buffered.indexOf(0); end >= 0; end = buffered.indexOf(0)) {
      const message = JSON.parse(buffered.subarray(0, end).toString()) as { id?: number; result?: Record<string, unknown>; error?: unknown };
      buffered = buffered.subarray(end + 1);
      const waiter = message.id === undefined ? undefined : pending.get(message.id);
      if (!waiter) continue; // an event: none is enabled that the bench reads
      pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(`DevTools: ${JSON.stringify(message.error)}`));
      else waiter.resolve(message.result ?? {});
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error('Chromium exited'));
  });
  const send: Send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, { resolve, reject });
    out.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
  });
  return {
    child,
    newPage: (url) => openPage(send, url),
    async close() {
      await send('Browser.close').catch(() => {});
      await exited;
      await profile.remove();
    },
  };
}

async function openPage(send: Send, url: string): Promise<PipePage> {
  const { targetId } = await send('Target.createTarget', { url });
  const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
  const page: PipePage = {
    send: (method, params) => send(method, params, sessionId),
    async evaluate<T>(expression: string) {
      const { result, exceptionDetails } = (await page.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true })) as {
        result: { value: T }; exceptionDetails?: { exception?: { description?: string }; text: string };
      };
      if (exceptionDetails) throw new Error(`in the page: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
      return result.value;
    },
    async pickFile(selector, path) {
      const { root } = (await page.send('DOM.getDocument')) as { root: { nodeId: number } };
      const { nodeId } = (await page.send('DOM.querySelector', { nodeId: root.nodeId, selector })) as { nodeId: number };
      await page.send('DOM.setFileInputFiles', { nodeId, files: [path] });
    },
  };
  for (const deadline = Date.now() + 30_000; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if ((await page.evaluate<string>('document.readyState')) === 'complete' && (await page.evaluate<string>('location.href')) === url) return page;
    if (Date.now() > deadline) throw new Error(`${url} did not load within 30 s`);
  }
}
