/**
 * Many upwire clients at once, each file over a connection of its own (as separate clients would),
 * each hashing its file first: `node upwire-clients.js <url> <files...>` prints
 * {"seconds": n, "failures": n, "retries": n}.
 */
import { createUploader } from '../src/client/node.js';

const [url, ...files] = process.argv.slice(2);
const started = performance.now();
let failures = 0;
let retries = 0;
await Promise.all(files.map(async (path) => {
  try {
    const uploader = await createUploader(path, { url: url! });
    uploader.on('retry', () => retries++);
    await uploader.start();
  } catch {
    failures++;
  }
}));
console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, failures, retries }));
