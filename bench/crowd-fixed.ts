/*
 * The fixed-window crowd (issue 18): N clients at once on loopback, each sending a 16 MiB file over
 * a connection of its own with 4 frames of 1 MiB always in flight, protocol-legal (E_BUSY waited
 * out and the frame sent again) but deaf to the server's pace; against tus-js-client uploading the
 * same files to @tus/server, in the same run. Wall time, failures, frames refused with E_BUSY (each
 * one a frame the server assembled and threw away) and frames sent again, the server's peak RSS and,
 * for upwire, the most frame bytes it held at once by its own count.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startService, startUpwire, stopService, timed } from './procs.js';
import { randomFileOfSize } from './util.js';

const here = new URL('.', import.meta.url).pathname;
const WINDOW = 4;
type Record = (key: string, value: number) => void;

async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const block of createReadStream(path)) hash.update(block as Buffer);
  return hash.digest('hex');
}

/** A gauge of upwire's /metrics. */
async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

export async function fixedWindowCrowds(record: Record, log: (text: string) => void, dir: (name: string) => Promise<string>, counts: number[], runs: number): Promise<void> {
  const source = await dir('crowd-fixed-src');
  const entries: { path: string; md5: string; size: number }[] = [];
  for (let i = 0; i < Math.max(...counts); i++) {
    const path = await randomFileOfSize(source, 16, `fixed-${i}.bin`);
    entries.push({ path, md5: await md5File(path), size: 16 * 1024 * 1024 });
  }
  for (let run = 1; run <= runs; run++) {
    for (const count of counts) {
      log(`[${count} fixed-window clients x 16 MiB] run ${run}/${runs}`);
      const manifest = join(source, `manifest-${count}.json`);
      await writeFile(manifest, JSON.stringify(entries.slice(0, count)));
      const data = await dir(`crowd-fixed-upwire-${count}`);
      const upwire = await startUpwire(['--port', '0', '--upload-dir', join(data, 'u'), '--db-dir', join(data, 'db'), '--fsync', 'off', '--log-level', 'warn']);
      const up = JSON.parse((await timed(process.execPath, [join(here, 'fixed-window-clients.js'), upwire.url, String(WINDOW), manifest])).stdout) as { seconds: number; failures: number; busy: number; resent: number };
      record(`fixed-${count}-upwire`, up.seconds);
      record(`fixed-${count}-upwire-failures`, up.failures);
      record(`fixed-${count}-upwire-busy`, up.busy);
      record(`fixed-${count}-upwire-resent`, up.resent);
      record(`fixed-${count}-upwire-held`, (await gauge(upwire.url, 'upwire_buffered_bytes_peak')) / 2 ** 20);
      record(`fixed-${count}-upwire-rss`, await stopService(upwire));
      await rm(data, { recursive: true, force: true });
      const tusDir = await dir(`crowd-fixed-tus-${count}`);
      const tus = await startService([join(here, 'tus-server.js'), tusDir]);
      const t = JSON.parse((await timed(process.execPath, [join(here, 'tus-client.js'), tus.url, String(count), ...entries.slice(0, count).map((e) => e.path)])).stdout) as { seconds: number; failures: number };
      record(`fixed-${count}-tus`, t.seconds);
      record(`fixed-${count}-tus-failures`, t.failures);
      record(`fixed-${count}-tus-rss`, await stopService(tus));
      await rm(tusDir, { recursive: true, force: true });
    }
  }
}
