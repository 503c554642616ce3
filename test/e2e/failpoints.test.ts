import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { upload } from '../../src/client/node.js';
import { md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { expectAckedKept, sendChunks, statusOf } from '../support/chunks.js';
import { connect, exited, filesOnceHashed, request, spawnServer, type RawSocket } from '../support/server.js';

const CHUNK = 64 * 1024;
const TOTAL = 24;

/** Every file in the store must hash to its own name: nothing unverified is ever there. */
async function storeIsVerified(uploadDir: string): Promise<string[]> {
  const stored: string[] = [];
  for (const shard of await readdir(uploadDir)) {
    if (shard === '.partial') continue;
    for (const name of await readdir(join(uploadDir, shard))) {
      expect(md5Of(await readFile(join(uploadDir, shard, name))), `store file ${name}`).to.equal(name);
      stored.push(name);
    }
  }
  return stored;
}

/** Init, every chunk (4 in flight), merge; records which chunks were acknowledged. Stops when the server dies. */
async function driveUpload(socket: RawSocket, md5: string, data: Buffer, acked: Set<number>): Promise<void> {
  // a request pending when the server dies is rejected ("socket has been disconnected"): that is the point
  const init = await request(socket, 'init', { md5, size: data.length, name: 'crash.bin', chunkSize: CHUNK }, 5000).catch(() => undefined);
  if (!init?.ok) return;
  await sendChunks(socket, md5, data, CHUNK, acked);
  await request(socket, 'merge', { md5 }, 5000).catch(() => undefined);
}

describe('kill -9 at named points: nothing acknowledged is lost, nothing unverified is stored', function () {
  const points = [
    ['after-init-state', '1'],
    ['mid-chunk-write', '7'],
    ['after-chunk-bytes', '9'],
    ['after-chunk-index', '5'],
    ['before-rename', '1'],
    ['after-rename', '1'],
  ] as const;

  for (const [point, hit] of points) {
    it(`${point} (hit ${hit})`, async () => {
      const dir = await tempDir();
      const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
      try {
        const file = await randomFile(dir.path, TOTAL * CHUNK, 'crash.bin');
        const doomed = await spawnServer(dirs, { UPWIRE_FAILPOINT: `${point}:${hit}`, FSYNC: 'on' });
        const socket = await connect(doomed.url);
        const acked = new Set<number>();
        await Promise.race([driveUpload(socket, file.md5, file.data, acked), exited(doomed.child)]);
        expect(await exited(doomed.child), 'the server died at the failpoint').to.deep.equal({ code: null, signal: 'SIGKILL' });
        socket.disconnect();

        const server = await spawnServer(dirs);
        try {
          const status = await statusOf(server.url, file.md5);
          if (status.status === 'partial') {
            expectAckedKept(status.missing, acked);
          } else if (status.status === 'complete') {
            expect(['before-rename', 'after-rename']).to.include(point); // the merge had verified it
          }
          expect((await storeIsVerified(dirs.uploadDir)).every((name) => name === file.md5)).to.equal(true);
          const result = await upload(file.path, { url: server.url });
          expect(result.chunksSent).to.be.at.most(TOTAL - acked.size);
          const stored = await readFile(storedPath(dirs.uploadDir, file.md5));
          expect(stored.equals(file.data)).to.equal(true);
          expect(await storeIsVerified(dirs.uploadDir)).to.deep.equal([file.md5]);
          // the record gains the content's SHA-256 (SHA256=background), also when recovery finished the merge
          const files = await filesOnceHashed(server.url);
          expect(files).to.have.length(1);
          expect(files[0]!.sha256).to.equal(createHash('sha256').update(file.data).digest('hex'));
        } finally {
          server.child.kill('SIGTERM');
          await exited(server.child);
        }
      } finally {
        await dir.remove();
      }
    });
  }
});
