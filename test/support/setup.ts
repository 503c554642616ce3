/*
 * Loaded by mocha before any test (.mocharc.json `require`): the suite must not read or write the
 * user's own cache (the client's md5 cache lives under $XDG_CACHE_HOME), so it gets one of its own,
 * inherited by the processes the tests spawn, and removed when mocha exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cache = mkdtempSync(join(tmpdir(), 'upwire-test-cache-'));
process.env.XDG_CACHE_HOME = cache;
process.on('exit', () => rmSync(cache, { recursive: true, force: true }));

// The AWS SDK's notice that its releases after January 2027 need Node 22, once per process: package.json
// pins a release that runs on Node 20 (the engines the package supports).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
