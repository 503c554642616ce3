import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, tempDir } from '../support/fixtures.js';
import { connect, exited, request, spawnServer, type RawSocket } from '../support/server.js';

const CHUNK = 64 * 1024;

async function openFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** `count` uploads, each stopped at a random point: after init, after some chunks, aborted or just left. */
async function abandon(sockets: RawSocket[], count: number, seed: number): Promise<void> {
  await Promise.all(sockets.map(async (socket, lane) => {
    for (let n = lane; n < count; n += sockets.length) {
      const md5 = (seed * 100_000 + n).toString(16).padStart(32, '0');
      const r = Math.random();
      await request(socket, 'init', { md5, size: 4 * CHUNK, name: `abandoned-${n}` });
      const chunks = Math.floor(Math.random() * 4); // 0 to 3 of the 4
      for (let index = 0; index < chunks; index++) await request(socket, 'chunk', { md5, index, total: 4, data: randomBytes(CHUNK) });
      if (r < 0.5) await request(socket, 'abort', { md5 });
    }
  }));
}

describe('1,000 uploads abandoned at random points', function () {
  it('leave no file descriptor, memory growth, temp file or partial upload behind once they expire', async () => {
    const dir = await tempDir();
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const server = await spawnServer(dirs, { PARTIAL_TTL: '1s', CHUNK_SIZE: String(CHUNK), FSYNC: 'off', LOG_LEVEL: 'warn' });
    const pid = server.child.pid!;
    try {
      const sockets = await Promise.all(Array.from({ length: 4 }, () => connect(server.url)));
      const partialDir = join(dirs.uploadDir, '.partial');
      const settle = async () => {
        await eventually(async () => (await readdir(partialDir)).length === 0, 20_000, 'every partial upload to expire');
        const status = await request(sockets[0]!, 'status', { md5: (1 * 100_000 + 3).toString(16).padStart(32, '0') });
        expect(status.ok && status.status).to.equal('none');
      };
      // a first round to warm up (JIT, heap, LevelDB caches): its end is the baseline
      await abandon(sockets, 200, 1);
      await settle();
      const fdBaseline = await openFds(pid);
      const rssBaseline = await rssMiB(pid);
      await abandon(sockets, 1000, 2);
      await settle();
      expect(await openFds(pid)).to.be.at.most(fdBaseline);
      // no growth trend: 1,000 more uploads left RSS within a few chunks' worth of the baseline
      expect(await rssMiB(pid)).to.be.below(rssBaseline + 32);
      for (const socket of sockets) socket.disconnect();
    } finally {
      server.child.kill('SIGTERM');
      await exited(server.child);
      await dir.remove();
    }
  });
});
