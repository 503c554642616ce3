import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes allocated on disk to the files under `dir` (as `du` counts them); 0 when it does not exist. */
export async function diskUse(dir: string): Promise<number> {
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  let bytes = 0;
  for (const name of names) {
    // A file can go between the listing and its stat: the spool deletes what it has sent on.
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) bytes += info.blocks * 512;
  }
  return bytes;
}

/**
 * The peak of diskUse(dir), read every `everyMs` until stop() (which returns it in MiB) or until
 * `maxMs` have passed: a bench that fails before stop() leaves no poller running for long.
 */
export function peakDiskUse(dir: string, everyMs = 200, maxMs = 30 * 60_000): { stop(): Promise<number> } {
  let peak = 0;
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const polling = (async () => {
    while (!stopped && Date.now() < deadline) {
      peak = Math.max(peak, await diskUse(dir));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await polling;
      peak = Math.max(peak, await diskUse(dir));
      return peak / 2 ** 20;
    },
  };
}
