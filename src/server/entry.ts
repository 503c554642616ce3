/*
 * What `import ... from 'upwire/server'` runs (package.json "exports"; its types are index.d.ts).
 * The server's packages are optional peer dependencies, and index.js imports them statically:
 * without them Node fails while linking, before any of upwire runs, with ERR_MODULE_NOT_FOUND naming
 * one package and a path deep inside upwire. So this entry loads index.js itself and turns that
 * failure into one error whose message is the `npm install` line, as `upwire serve` prints it.
 * test/unit/server-entry.test.ts holds the names below to index.js's.
 */
import { installLine, missingPeerPackage } from './model/peer-packages.js';

/** Keeps Node's code, so a caller that tells a missing module by `code` still does. */
class MissingPackageError extends Error {
  override name = 'MissingPackageError';
  readonly code = 'ERR_MODULE_NOT_FOUND';
}

const server = await import('./index.js').catch((err: unknown) => {
  const missing = missingPeerPackage(err);
  throw missing === undefined ? err : new MissingPackageError(installLine('upwire/server', missing));
});

export const {
  startServer, createUpwire, upwireSocketOptions, MAX_FRAME_BYTES, loadConfig, ConfigError, DEFAULTS,
  UploadGone, StaleFence, StoreUnavailable, MemoryStores, UpwireError,
} = server;
