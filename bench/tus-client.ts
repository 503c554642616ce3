/**
 * tus-js-client uploading files from disk (one PATCH each, its default), `parallel` at a time:
 * `node tus-client.js <endpoint> <parallel> <files...>` prints {"seconds": n, "failures": n}.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Upload } from 'tus-js-client';

const [endpoint, parallelArg, ...files] = process.argv.slice(2);

async function uploadOne(path: string): Promise<void> {
  const { size } = await stat(path);
  await new Promise<void>((resolve, reject) => {
    const upload = new Upload(createReadStream(path), {
      endpoint: endpoint!,
      uploadSize: size,
      metadata: { filename: basename(path) },
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
}

const started = performance.now();
const queue = files.values();
let failures = 0;
await Promise.all(Array.from({ length: Number(parallelArg) }, async () => {
  for (const path of queue) await uploadOne(path).catch(() => failures++);
}));
console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, failures }));
