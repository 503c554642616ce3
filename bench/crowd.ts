/*
 * Many clients at once on loopback: each file over a connection of its own (upwire) or its own
 * upload (tus-js-client), all started together; wall time, failures and the server's peak RSS.
 * The same files on disk for both; upwire's clients hash theirs first, as they must.
 */
import { join } from 'node:path';
import { startService, startUpwire, stopService, timed } from './procs.js';
import { randomFileOfSize } from './util.js';

const here = new URL('.', import.meta.url).pathname;
type Record = (key: string, value: number) => void;

export async function crowds(record: Record, log: (text: string) => void, dir: (name: string) => Promise<string>, counts: number[], runs: number): Promise<void> {
  const source = await dir('crowd-src');
  const files: string[] = [];
  for (let i = 0; i < Math.max(...counts); i++) files.push(await randomFileOfSize(source, 16, `crowd-${i}.bin`));
  for (let run = 1; run <= runs; run++) {
    for (const count of counts) {
      log(`[${count} clients x 16 MiB] run ${run}/${runs}`);
      const some = files.slice(0, count);
      const data = await dir(`crowd-upwire-${count}`);
      const upwire = await startUpwire(['--port', '0', '--upload-dir', join(data, 'u'), '--db-dir', join(data, 'db'), '--fsync', 'off', '--log-level', 'warn']);
      const up = JSON.parse((await timed(process.execPath, [join(here, 'upwire-clients.js'), upwire.url, ...some])).stdout) as { seconds: number; failures: number; retries: number };
      record(`crowd-${count}-upwire`, up.seconds);
      record(`crowd-${count}-upwire-failures`, up.failures);
      record(`crowd-${count}-upwire-rss`, await stopService(upwire));
      const tus = await startService([join(here, 'tus-server.js'), await dir(`crowd-tus-${count}`)]);
      const t = JSON.parse((await timed(process.execPath, [join(here, 'tus-client.js'), tus.url, String(count), ...some])).stdout) as { seconds: number; failures: number };
      record(`crowd-${count}-tus`, t.seconds);
      record(`crowd-${count}-tus-failures`, t.failures);
      record(`crowd-${count}-tus-rss`, await stopService(tus));
    }
  }
}
