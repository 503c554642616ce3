/*
 * What the hash cache saves on a file of any size: `node cache-probe.js <url> <file>` uploads it
 * with a fresh cache, stops half-way, then measures the resume (from start() to the first frame
 * sent) and, once complete, an instant re-upload (the call); prints them in ms, as JSON.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUploader, FileHashCache } from '../src/client/node.js';

const [url, path] = process.argv.slice(2) as [string, string];
const dir = await mkdtemp(join(tmpdir(), 'upwire-cache-probe-'));
const cache = join(dir, 'md5.json');
try {
  const first = await createUploader(path, { url, hashCache: new FileHashCache(cache) });
  first.on('progress', (p) => p.bytes >= p.size / 2 && first.abort());
  await first.start().catch(() => {});
  const resumed = await createUploader(path, { url, hashCache: new FileHashCache(cache) });
  let firstFrameMs: number | undefined;
  const started = performance.now();
  resumed.on('progress', (p) => {
    if (firstFrameMs === undefined && p.sent > 0) firstFrameMs = performance.now() - started;
  });
  const done = await resumed.start();
  const again = performance.now();
  const instant = await (await createUploader(path, { url, hashCache: new FileHashCache(cache) })).start();
  const instantMs = performance.now() - again;
  if (!done.md5Cached || !instant.instant || !instant.md5Cached) throw new Error('the cache was not used');
  console.log(JSON.stringify({ firstFrameMs, instantMs }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
