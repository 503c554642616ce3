import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CHUNK_SIZE, MiB } from '../../src/protocol/index.js';
import type { UploadResult } from '../../src/client/node.js';
import { randomFile, skipWithout, storedPath, tempDir } from '../support/fixtures.js';
import { createShapedLink, shapedLinksUnavailable } from '../support/netns.js';
import { startTestServer, type TestServer } from '../support/server.js';

const CLIENT = join(fileURLToPath(new URL('.', import.meta.url)), '../support/shaped-client.js');

interface Outcome { result?: UploadResult; error?: string; retries: string[]; reconnects: number; statusMs: number[]; aheadBytes: number[] }

/** One upload over its own shaped link to its own server, with the server's default 4 MiB chunks. */
async function uploadOver(rate: string, bitsPerSecond: number, bytes: number, dir: string) {
  const link = await createShapedLink(rate);
  let server: TestServer | undefined;
  try {
    server = await startTestServer({ host: link.hostAddress, chunkSize: DEFAULT_CHUNK_SIZE });
    const file = await randomFile(dir, bytes, `${rate}.bin`);
    const child = link.spawnInside(process.execPath, [CLIENT, server.url, file.path]);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the client in the namespace exited with ${code}: ${stderr}`);
    const outcome = JSON.parse(stdout) as Outcome;
    const stored = await readFile(storedPath(server.config.uploadDir, file.md5)).catch(() => undefined);
    return { outcome, stored: stored?.equals(file.data) === true, linkSeconds: (bytes * 8) / bitsPerSecond, bytesPerSecond: bitsPerSecond / 8, shaper: await link.stats() };
  } finally {
    await server?.stop();
    await link.remove();
  }
}

describe('real slow links: a network namespace, a veth pair and tbf on the client side', function () {
  this.timeout(300_000);
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let fast: Awaited<ReturnType<typeof uploadOver>>;
  let slow: Awaited<ReturnType<typeof uploadOver>>;

  before(async function () {
    skipWithout(this, await shapedLinksUnavailable());
    dir = await tempDir();
    // Both links at once: each has its own namespace and shaper, and neither needs much CPU.
    [fast, slow] = await Promise.all([
      uploadOver('2mbit', 2_000_000, 24 * MiB, dir.path),
      uploadOver('512kbit', 512_000, 4 * MiB, dir.path),
    ]);
  });
  after(() => dir?.remove());

  it('2 Mbit/s, 24 MiB: stored exactly, every byte sent once, zero retries, zero reconnects', () => {
    const { outcome, stored, linkSeconds } = fast;
    expect(outcome.error, 'the upload failed').to.equal(undefined);
    expect(stored).to.equal(true);
    expect(outcome.retries).to.deep.equal([]);
    expect(outcome.reconnects).to.equal(0);
    // How long it took depends on the machine's load as much as on the link: said, not asserted (npm run bench measures it).
    const seconds = outcome.result!.hashSeconds + outcome.result!.transferSeconds;
    console.log(`      24 MiB at 2 Mbit/s: ${seconds.toFixed(1)} s (the link's limit ${linkSeconds.toFixed(1)} s, ${(seconds / linkSeconds).toFixed(3)}x)`);
    expect(outcome.result).to.include({ bytesSent: 24 * MiB, bytesStored: 24 * MiB, chunksStored: 6 });
  });

  it('512 kbit/s, 4 MiB: stored exactly, zero retries, zero reconnects', () => {
    const { outcome, stored } = slow;
    expect(outcome.error, 'the upload failed').to.equal(undefined);
    expect(stored).to.equal(true);
    expect(outcome.retries).to.deep.equal([]);
    expect(outcome.reconnects).to.equal(0);
    expect(outcome.result).to.include({ bytesSent: 4 * MiB, bytesStored: 4 * MiB, chunksStored: 1 });
  });

  it('a status request on the uploading connection never waits behind more than 1.5 s of the link\'s data, on both links', () => {
    for (const [name, { outcome, linkSeconds, bytesPerSecond }] of [['2 Mbit/s', fast], ['512 kbit/s', slow]] as const) {
      // one probe every 500 ms while uploading: most of the upload was probed
      expect(outcome.aheadBytes.length, name).to.be.at.least(Math.floor(linkSeconds * 2 * 0.8));
      // What the flow control guarantees, whatever the machine's load: the bytes in flight ahead of
      // a request (its window: the answer rate times 0.75 s, two frames at least). The round trips
      // measured add the time the machine takes to answer: said, not asserted.
      const aheadSeconds = Math.max(...outcome.aheadBytes) / bytesPerSecond;
      const worst = Math.max(...outcome.statusMs);
      console.log(`      ${name}: at most ${aheadSeconds.toFixed(2)} s of data ahead of a status request; ${outcome.statusMs.length} round trips, median ${median(outcome.statusMs).toFixed(0)} ms, worst ${worst.toFixed(0)} ms`);
      expect(aheadSeconds, name).to.be.below(1.5);
    }
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? NaN;
}
