/*
 * Shaped uplinks (a network namespace, a veth pair, tbf on the client side; see test/support/netns.ts):
 * upwire and tus upload the same file, each over a link of its own at the same time, so the two
 * runs share the machine and neither shares a link.
 */
import { join } from 'node:path';
import { createShapedLink, shapedLinksUnavailable } from '../test/support/netns.js';
import { startService, startUpwire, stopService, timed } from './procs.js';
import { randomFileOfSize } from './util.js';

const here = new URL('.', import.meta.url).pathname;
const SHAPED_CLIENT = join(here, '../test/support/shaped-client.js');

export const LINKS = [
  { rate: '2mbit', bitsPerSecond: 2_000_000, mib: 24 },
  { rate: '512kbit', bitsPerSecond: 512_000, mib: 4 },
] as const;

type Record = (key: string, value: number) => void;

async function overLink(rate: string, run: (ns: string, host: string) => Promise<void>): Promise<void> {
  const link = await createShapedLink(rate);
  try {
    await run(link.namespace, link.hostAddress);
  } finally {
    await link.remove();
  }
}

export async function shapedLinks(record: Record, log: (text: string) => void, dir: (name: string) => Promise<string>, runs: number): Promise<void> {
  const why = await shapedLinksUnavailable();
  if (why) {
    log(`shaped links skipped: ${why}`);
    return;
  }
  for (const { rate, mib } of LINKS) {
    const file = await randomFileOfSize(await dir(`link-${rate}`), mib);
    for (let run = 1; run <= runs; run++) {
      log(`[${mib} MiB over ${rate}] run ${run}/${runs} (upwire and tus at once, a link each)`);
      const upwire = overLink(rate, async (ns, host) => {
        const data = await dir(`link-${rate}-upwire`);
        const server = await startUpwire(['--host', host, '--port', '0', '--upload-dir', join(data, 'u'), '--db-dir', join(data, 'db'), '--log-level', 'warn']);
        try {
          const { seconds, stdout } = await timed('ip', ['netns', 'exec', ns, process.execPath, SHAPED_CLIENT, server.url, file]);
          const outcome = JSON.parse(stdout) as { error?: string; retries: string[]; reconnects: number; statusMs: number[] };
          if (outcome.error) throw new Error(`upwire over ${rate}: ${outcome.error}`);
          record(`link-${rate}-upwire`, seconds);
          record(`link-${rate}-upwire-retries`, outcome.retries.length + outcome.reconnects);
          const sorted = [...outcome.statusMs].sort((a, b) => a - b);
          record(`link-${rate}-status-p50`, sorted[sorted.length >> 1] ?? NaN);
          record(`link-${rate}-status-max`, sorted.at(-1) ?? NaN);
        } finally {
          await stopService(server);
        }
      });
      const tus = overLink(rate, async (ns, host) => {
        const server = await startService([join(here, 'tus-server.js'), await dir(`link-${rate}-tus`), host]);
        try {
          const { seconds } = await timed('ip', ['netns', 'exec', ns, process.execPath, join(here, 'tus-client.js'), server.url, '1', file]);
          record(`link-${rate}-tus`, seconds);
        } finally {
          await stopService(server);
        }
      });
      await Promise.all([upwire, tus]);
    }
  }
}
