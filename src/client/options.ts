/*
 * Each platform's upload options, in a module that loads neither platform: the declarations a
 * bundler project gets for `upwire` (universal.ts) name both, and must not pull Node's types into a
 * browser project or the DOM's into a Node one.
 */
import type { UploadOptions } from './core.js';
import type { HashAlgorithm } from './hash-messages.js';

export interface NodeUploadOptions extends UploadOptions {
  /** The name the server records; defaults to the file's base name. */
  name?: string;
  type?: string;
}

export interface BrowserUploadOptions extends UploadOptions {
  /**
   * A hash worker script on the page's origin, to use instead of the one built into the package,
   * which starts from a Blob URL: for a CSP without blob: in worker-src. The server serves one at
   * /assets/hash-worker.js; it is also dist/public/hash-worker.js in the package.
   */
  workerUrl?: string | URL;
  hashAlgorithm?: HashAlgorithm;
  name?: string;
}
