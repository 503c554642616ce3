import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

/**
 * The compiled browser client (browser.js, the package's `browser` entry) bundled into a classic
 * script that sets `window.upwireClient`, so a test calls `createUploader` in Chromium with options
 * the upload page does not give (the page's own bundle does not expose it).
 */
export async function browserClientScript(): Promise<string> {
  const entry = fileURLToPath(new URL('../../src/client/browser.js', import.meta.url));
  const out = await build({ entryPoints: [entry], bundle: true, write: false, format: 'iife', globalName: 'upwireClient', platform: 'browser', logLevel: 'silent' });
  return out.outputFiles[0]!.text;
}
