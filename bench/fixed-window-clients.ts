/**
 * Many protocol-legal clients with a FIXED window of frames in flight (test/support/fixed-window.ts),
 * each file over a connection of its own, all started together:
 * `node fixed-window-clients.js <url> <window> <manifest.json>` (the manifest lists {path, md5, size},
 * hashed beforehand: the hash is not what this measures) prints
 * {"seconds": n, "failures": n, "busy": n, "resent": n}.
 */
import { open, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fixedWindowUpload, type FixedWindowCounts } from '../test/support/fixed-window.js';

/** The whole run is bounded: a client that never finishes is a failure, not a hang. */
const RUN_LIMIT_MS = 15 * 60_000;

interface Entry { path: string; md5: string; size: number }

const [url, windowArg, manifest] = process.argv.slice(2);
const entries = JSON.parse(await readFile(manifest!, 'utf8')) as Entry[];
const counts: FixedWindowCounts = { busy: 0, resent: 0 };
const started = performance.now();
let failures = 0;
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, failures: entries.length, ...counts, timedOut: true }));
  process.exit(1);
}, RUN_LIMIT_MS);
await Promise.all(entries.map(async (entry) => {
  const file = await open(entry.path);
  try {
    const read = async (position: number, length: number) => {
      const data = Buffer.allocUnsafe(length);
      await file.read(data, 0, length, position);
      return data;
    };
    await fixedWindowUpload(url!, { md5: entry.md5, size: entry.size, name: basename(entry.path), read }, Number(windowArg), counts);
  } catch (err) {
    failures++;
    process.stderr.write(`${entry.path}: ${(err as Error).message}\n`);
  } finally {
    await file.close();
  }
}));
clearTimeout(deadline);
console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, failures, ...counts }));
