/*
 * The declarations of `import ... from 'upwire'` where TypeScript cannot tell the platform. Under
 * moduleResolution "Bundler" TypeScript applies neither the `node` nor the `browser` export
 * condition (not without customConditions), so a browser project would get the Node client's types
 * (a path, NodeJS.* names) and a File would not type-check. package.json's "exports" gives such a
 * project these instead: what both clients export, and createUploader and upload for either kind
 * of file. At run time Node or the bundler picks node.js or browser.js, which export all of these
 * names; nothing imports this module's JavaScript.
 */
import type { Uploader, UploadResult } from './core.js';
import type { BrowserUploadOptions, NodeUploadOptions } from './options.js';

export * from './shared-exports.js';
export type { BrowserUploadOptions, NodeUploadOptions } from './options.js';

/** An uploader for a file on disk (Node: a path) or a File or Blob (a browser): subscribe to its events, then `start()`. */
export declare function createUploader(path: string, options: NodeUploadOptions): Promise<Uploader>;
export declare function createUploader(file: Blob, options: BrowserUploadOptions): Promise<Uploader>;

/** Uploads one file (Node: a path; a browser: a File or Blob) and resolves when the server has stored and verified it. */
export declare function upload(path: string, options: NodeUploadOptions): Promise<UploadResult>;
export declare function upload(file: Blob, options: BrowserUploadOptions): Promise<UploadResult>;
