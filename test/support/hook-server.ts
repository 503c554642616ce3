/*
 * A server process with an onUploadComplete hook that appends a line per call to HOOK_LOG, for
 * the kill -9 tests (UPWIRE_FAILPOINT arms a crash point, as for `upwire serve`). Prints
 * "listening on <url>" like upwire serve, and stops cleanly on SIGTERM.
 */
import { appendFileSync } from 'node:fs';
import { DEFAULTS, startServer } from '../../src/server/index.js';
import { createLogger } from '../../src/server/observe/log.js';

const { UPLOAD_DIR, DB_DIR, HOOK_LOG } = process.env;
if (!UPLOAD_DIR || !DB_DIR || !HOOK_LOG) throw new Error('UPLOAD_DIR, DB_DIR and HOOK_LOG must be set');
const server = await startServer(
  { ...DEFAULTS, port: 0, uploadDir: UPLOAD_DIR, dbDir: DB_DIR, chunkSize: 64 * 1024, fsync: true },
  {
    logger: createLogger('silent', false),
    hooks: {
      onUploadComplete: ({ principal, file, metadata }) => {
        appendFileSync(HOOK_LOG, `${JSON.stringify({ id: principal.id, md5: file.md5, name: file.name, metadata })}\n`);
      },
    },
  },
);
console.log(`listening on ${server.url}`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
