import { expect } from 'chai';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../../src/protocol/index.js';
import { storedPath, tempDir } from '../support/fixtures.js';
import { syntheticFiles, uploadAll } from '../support/many-uploads.js';
import { exited, spawnServer } from '../support/server.js';
import { peakRssMiB } from '../support/procs.js';

describe('many clients at once (loopback)', function () {
  this.timeout(240_000);

  it('300 clients upload 16 MiB each at once: all complete, and the server stays within its memory bounds', async () => {
    const dir = await tempDir();
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    // A process of its own, so its memory is its own; the server's defaults, but for fsync (tus does not sync either).
    const server = await spawnServer(dirs, { FSYNC: 'off', LOG_LEVEL: 'warn' });
    try {
      const files = syntheticFiles(300, 16 * MiB);
      const result = await uploadAll(files, { url: server.url });
      const peak = await peakRssMiB(server.child.pid!);
      console.log(`      300 x 16 MiB: ${result.seconds.toFixed(1)} s, ${result.completed} complete, ${result.retries} retries, server peak RSS ${peak.toFixed(0)} MiB`);
      expect(result.failures).to.deep.equal([]);
      expect(result.completed).to.equal(300);
      for (const { md5 } of files.filter((_, i) => i % 50 === 0)) {
        expect((await stat(storedPath(dirs.uploadDir, md5))).size).to.equal(16 * MiB);
      }
      // Frame bytes in memory are capped in all (MAX_BUFFERED, 128 MiB, read or admitted; see socket/intake.ts).
      expect(peak).to.be.below(512);
    } finally {
      server.child.kill('SIGTERM');
      await exited(server.child);
      await dir.remove();
    }
  });
});
