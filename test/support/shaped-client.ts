/*
 * An upload run inside a network namespace (see netns.ts):
 *   node shaped-client.js <url> <file>
 * While it uploads, it asks `status` on the same connection every 500 ms, notes the bytes sent and
 * not yet answered at that moment (what the request waits behind on the link), and times the answer.
 * Prints one JSON line: the result, the retries and reconnects, the bytes ahead of each status
 * request, and the status round trips (ms).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createUploader, openConnection, type UploadResult } from '../../src/client/node.js';

const [url, path] = process.argv.slice(2) as [string, string];
const md5 = createHash('md5').update(await readFile(path)).digest('hex');
const connection = openConnection({ url });
const uploader = await createUploader(path, { url, md5, connection });
const retries: string[] = [];
const statusMs: number[] = [];
const aheadBytes: number[] = [];
uploader.on('retry', ({ error }) => retries.push(`${error.code}: ${error.message}`));
let uploading = false;
uploader.on('phase', (phase) => (uploading = phase === 'uploading'));
const probe = setInterval(() => {
  if (!uploading) return;
  const started = performance.now();
  aheadBytes.push(connection.flow.inFlight);
  connection.request('status', { md5 }).then(
    () => statusMs.push(performance.now() - started),
    (err: Error) => retries.push(`status: ${err.message}`),
  );
}, 500);
let result: UploadResult | undefined;
let error: string | undefined;
try {
  result = await uploader.start();
} catch (err) {
  error = (err as Error).message;
}
clearInterval(probe);
connection.close();
console.log(JSON.stringify({ result, error, retries, reconnects: connection.reconnects, statusMs, aheadBytes }));
