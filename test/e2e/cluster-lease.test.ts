/*
 * A node that stalls in the middle of a merge, in Redis mode (issue 18, finding 2): its lease runs
 * out, another node merges and stores the file, a third node's stale cache writes a late frame,
 * junk lands in the temp file; then the stalled node wakes up. It must store nothing, write no
 * record, and the verified file must stay exactly as stored. Three `upwire serve` processes on one
 * UPLOAD_DIR with a real redis-server; node 0 stops itself (SIGSTOP, a failpoint) right after it
 * sealed its copy and before it hashes it, or once verified and before it stores (where the version
 * before fencing, on waking, moved the junk temp file over the stored one).
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KiB } from '../../src/protocol/index.js';
import { clusterUnavailable, startCluster, type Cluster } from '../support/cluster.js';
import { eventually, md5Of, randomFile, skipWithout, tempDir } from '../support/fixtures.js';
import { connect, ok, request, type RawSocket } from '../support/server.js';

const CHUNK = 64 * KiB;

/** The state letter of a process in /proc (T: stopped). */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

describe('Redis mode: a merge that lost its lease while it stalled', function () {
  this.timeout(90_000);
  let cluster: Cluster | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const sockets: RawSocket[] = [];

  before(function () {
    skipWithout(this, clusterUnavailable());
  });
  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.disconnect();
    const pid = cluster?.pid(0);
    if (pid) process.kill(pid, 'SIGCONT');
    await cluster?.stop();
    cluster = undefined;
    await dir.remove();
  });

  for (const [point, when] of [['mid-verification', 'after it sealed its copy, before it hashed it'], ['before-rename', 'after it verified, before it stored']] as const) {
    it(`stores nothing and writes no record when it wakes (stopped ${when}): the file another node stored stays exact`, async () => {
      cluster = await startCluster({
        nodes: 3, nginx: false, args: ['--chunk-size', '64K', '--fsync', 'off'],
        nodeEnv: (i): Record<string, string> => (i === 0 ? { UPWIRE_FAILPOINT: `${point}:1:stop` } : {}),
      });
      const [a, b, c] = await Promise.all(cluster.urls.map(async (url) => {
        const socket = await connect(url);
        sockets.push(socket);
        return socket;
      })) as [RawSocket, RawSocket, RawSocket];
      const file = await randomFile(dir.path, 64 * CHUNK);
      const init = { md5: file.md5, size: file.data.length, name: 'big.bin' };
      const chunk = (socket: RawSocket, index: number, data = file.data) =>
        ok(socket, 'chunk', { md5: file.md5, index, total: 64, data: data.subarray(index * CHUNK, (index + 1) * CHUNK) });

      await ok(a, 'init', init);
      await ok(c, 'init', init); // node 2 caches a session of the upload now...
      await chunk(c, 0); // ...which learns of chunk 0 only
      for (let index = 1; index < 64; index++) await chunk(a, index);

      // node 0 merges: it takes the lease, seals its copy and stops itself before hashing it
      const stalled = request(a, 'merge', { md5: file.md5 }, 80_000);
      const pid = cluster.pid(0)!;
      await eventually(async () => (await processState(pid)) === 'T', 20_000, `node 0 to stop at ${point}`);
      cluster.note(`node 0 stopped at ${point}`);

      // node 1 merges once node 0's lease has run out (10 s), and stores the file
      const merged = await request(b, 'merge', { md5: file.md5 }, 40_000);
      expect(merged.ok && merged.file, JSON.stringify(merged)).to.include({ md5: file.md5, size: file.data.length });
      cluster.note('node 1 merged');

      // node 2's stale cache takes a late frame of a chunk it thinks missing, and junk lands in the temp file
      const late = await request(c, 'chunk', { md5: file.md5, index: 9, total: 64, data: Buffer.alloc(CHUNK, 7) });
      expect(late.ok && late.stored, JSON.stringify(late)).to.equal(true);
      await writeFile(join(cluster.uploadDir, '.partial', `${file.md5}.part`), Buffer.alloc(CHUNK, 9));

      process.kill(pid, 'SIGCONT');
      cluster.note('node 0 continued');
      const woke = await stalled;
      // it lost its lease: a retryable refusal (or the file already stored, never anything else)
      if (!woke.ok) expect(woke.error.code, woke.error.message).to.equal('E_BUSY');
      else expect(woke.file.md5).to.equal(file.md5);

      expect(md5Of(await readFile(cluster.storePath(file.md5))), cluster.report()).to.equal(file.md5);
      for (const socket of [a, b, c]) {
        expect(await ok(socket, 'init', init)).to.deep.include({ status: 'complete' });
      }
      const download = await fetch(`${cluster.urls[0]}/files/${file.md5}`);
      expect(Buffer.from(await download.arrayBuffer()).equals(file.data)).to.equal(true);
      expect(cluster.unexpectedExits()).to.deep.equal([]);
    });
  }
});
