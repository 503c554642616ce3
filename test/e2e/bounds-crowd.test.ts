/*
 * Issue 18: frame bytes in memory are bounded in total, not per connection. A crowd of protocol-
 * legal clients that each keep a fixed window of 1 MiB frames in flight, far more in all than
 * MAX_BUFFERED: the server stops reading sockets (TCP pushes back) instead of assembling frames it
 * then refuses with E_BUSY, and what it holds (read and not yet admitted, or admitted and not yet
 * written) stays under the total but for one socket read per waiting connection.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { MiB } from '../../src/protocol/index.js';
import { READ_BYTES } from '../../src/server/socket/intake.js';
import { createUpwire, upwireSocketOptions } from '../../src/server/index.js';
import { createLogger } from '../../src/server/observe/log.js';
import { fixedWindowUpload, type FixedWindowCounts } from '../support/fixed-window.js';
import { md5Of, tempDir } from '../support/fixtures.js';

const TOTAL = 16 * MiB;
const CLIENTS = 40;
const WINDOW = 4;
const FILE_BYTES = 6 * MiB;

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

describe('frame bytes held in total, before and after admission (issue 18)', function () {
  this.timeout(180_000);

  it(`${CLIENTS} clients keeping ${WINDOW} frames of 1 MiB in flight each, against MAX_BUFFERED=16M: none refused, the total kept, every file exact`, async () => {
    const dir = await tempDir();
    const upwire = await createUpwire({
      uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db'), fsync: false, maxBufferedBytes: TOTAL, logger: createLogger('silent', false),
    });
    const http = createServer(upwire.httpHandler());
    const io = new Server(http, { ...upwireSocketOptions(), serveClient: false });
    const nsp = upwire.attach(io);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    // An independent look at what ws holds of messages still arriving, across every connection
    // (the intake's own count is read from /metrics below).
    let receiversMax = 0;
    const probe = setInterval(() => {
      let bytes = 0;
      for (const socket of nsp.sockets.values()) {
        bytes += (socket.conn.transport as unknown as { socket?: { _receiver?: { _bufferedBytes?: number } } }).socket?._receiver?._bufferedBytes ?? 0;
      }
      receiversMax = Math.max(receiversMax, bytes);
    }, 1);
    try {
      const files = Array.from({ length: CLIENTS }, (_, i) => {
        const data = randomBytes(FILE_BYTES);
        return { md5: md5Of(data), size: data.length, name: `crowd-${i}.bin`, data, read: async (position: number, length: number) => data.subarray(position, position + length) };
      });
      const counts: FixedWindowCounts = { busy: 0, resent: 0 };
      await Promise.all(files.map((file) => fixedWindowUpload(url, file, WINDOW, counts)));
      clearInterval(probe);

      const peak = await gauge(url, 'upwire_buffered_bytes_peak');
      const pauses = await gauge(url, 'upwire_connection_pauses_total');
      console.log(`      ${CLIENTS} x ${WINDOW} MiB in flight against ${TOTAL / MiB} MiB: held at most ${(peak / MiB).toFixed(2)} MiB (ws buffers seen at most ${(receiversMax / MiB).toFixed(2)} MiB), ${pauses} pauses, ${counts.busy} E_BUSY`);
      expect(counts.busy, 'frames refused with E_BUSY (read, then thrown away)').to.equal(0);
      expect(counts.resent).to.equal(0);
      // the documented slack: one socket read for each connection waiting for room
      const bound = TOTAL + CLIENTS * READ_BYTES;
      expect(peak).to.be.at.most(bound);
      expect(receiversMax).to.be.at.most(bound);
      // the crowd did press on the total (160 MiB in flight against 16 MiB): it was paused, not just never near
      expect(pauses).to.be.at.least(CLIENTS);
      expect(peak).to.be.at.least(TOTAL / 2);
      expect(await gauge(url, 'upwire_buffered_bytes')).to.equal(0);
      expect(await gauge(url, 'upwire_paused_connections')).to.equal(0);
      for (const file of files) {
        const response = await fetch(`${url}/files/${file.md5}`);
        expect(response.status).to.equal(200);
        const stored = Buffer.from(await response.arrayBuffer());
        expect(stored.length).to.equal(file.size);
        expect(createHash('md5').update(stored).digest('hex')).to.equal(file.md5);
      }
    } finally {
      clearInterval(probe);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      http.closeAllConnections();
      await upwire.close();
      await dir.remove();
    }
  });
});
