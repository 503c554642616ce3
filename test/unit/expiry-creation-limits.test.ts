/*
 * Expiry and the limits on new uploads by the clock they take (`sweep(now)`, `conflict(entry, now)`,
 * `checkSpace(size, now)`): the rules at their edges, with no sleep.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { MIN_CHUNK_SIZE, UpwireError, type EndedEvent } from '../../src/protocol/index.js';
import { MemoryBytes } from '../../src/server/bytes/memory.js';
import { DEFAULTS } from '../../src/server/config/config.js';
import { MemoryLocker } from '../../src/server/lock/memory.js';
import { fanOut } from '../../src/server/observe/events.js';
import { MemoryStores } from '../../src/server/store/memory.js';
import { CreationLimits, CONFLICT_IDLE_MS, RESERVATION_MS } from '../../src/server/upload/creation-limits.js';
import { UploadLedger } from '../../src/server/upload/ledger.js';
import { UploadService } from '../../src/server/upload/service.js';
import type { UploadMeta } from '../../src/server/store/types.js';

const CHUNK = MIN_CHUNK_SIZE;
const PARTIAL_TTL = 60_000;
const EMPTY_TTL = 10_000;

function service() {
  const stores = new MemoryStores();
  const ended: EndedEvent[] = [];
  const node = new UploadService({
    uploads: stores, files: stores, bytes: new MemoryBytes(), locker: new MemoryLocker(),
    events: fanOut({ ended: (e) => ended.push(e) }),
    config: { ...DEFAULTS, chunkSize: CHUNK, fsync: false, partialTtlMs: PARTIAL_TTL, emptyTtlMs: EMPTY_TTL },
  });
  return { node, stores, ended };
}

function content(chunks: number) {
  const data = randomBytes(chunks * CHUNK);
  return { data, md5: createHash('md5').update(data).digest('hex') };
}

const meta = (md5: string, size: number): UploadMeta => ({
  id: md5, md5, size, chunkSize: CHUNK, total: Math.ceil(size / CHUNK), name: 'x', type: 'x', createdAt: 0, updatedAt: 0, received: 0,
  uploader: { principal: { id: '*', role: 'upload' }, name: 'x', type: 'x' },
});

/** Date.now() as the test says, for the times the service records (its last frame, its last init). */
function fakeNow(start: number) {
  const real = Date.now;
  let now = start;
  Date.now = () => now;
  return { set: (t: number) => (now = t), restore: () => (Date.now = real) };
}

describe('expiry by the sweeper\'s clock (UploadService.sweep(now))', () => {
  it('forgets an upload that got no byte EMPTY_TTL after its init, not a moment before; another init does not renew that clock', async () => {
    const { node, stores, ended } = service();
    const { data, md5 } = content(2);
    const request = { md5, size: data.length, name: 'x.bin', type: 'x/y' };
    const created = Date.now();
    await node.init(request);
    await node.sweep(created + EMPTY_TTL - 1000);
    await node.init(request); // an init alone does not keep it
    expect(await stores.getUpload(md5)).to.not.equal(undefined);
    await node.sweep(created + EMPTY_TTL + 1000);
    expect(await stores.getUpload(md5)).to.equal(undefined);
    expect(ended).to.deep.equal([{ id: md5, md5, reason: 'expired' }]);
  });

  it('keeps an upload that received bytes until PARTIAL_TTL after the last of them, however old it is', async () => {
    const clock = fakeNow(1_000_000);
    try {
      const { node, stores, ended } = service();
      const { data, md5 } = content(3);
      await node.init({ md5, size: data.length, name: 'x.bin', type: 'x/y' });
      for (let index = 0; index < 3; index++) {
        clock.set(1_000_000 + (index + 1) * (PARTIAL_TTL - 1000)); // each frame just before the last one would expire
        await node.chunk({ md5, index, total: 3, offset: 0, data: data.subarray(index * CHUNK, (index + 1) * CHUNK) });
        await node.sweep(Date.now() + PARTIAL_TTL - 1000);
        expect(await stores.getUpload(md5), `after chunk ${index}`).to.not.equal(undefined);
      }
      expect((await node.merge(md5)).file.md5, 'worked on for 3 TTLs, and kept').to.equal(md5);

      const other = content(2);
      await node.init({ md5: other.md5, size: other.data.length, name: 'y.bin', type: 'x/y' });
      await node.chunk({ md5: other.md5, index: 0, total: 2, offset: 0, data: other.data.subarray(0, CHUNK) });
      await node.sweep(Date.now() + EMPTY_TTL + 1000); // not empty: EMPTY_TTL does not apply
      expect(await stores.getUpload(other.md5)).to.not.equal(undefined);
      await node.sweep(Date.now() + PARTIAL_TTL);
      expect(await stores.getUpload(other.md5)).to.equal(undefined);
      expect(ended.map((e) => [e.md5, e.reason])).to.deep.equal([[other.md5, 'expired']]);
    } finally {
      clock.restore();
    }
  });
});

describe('new uploads, by the clock they take (CreationLimits)', () => {
  const bytes = (free: number) => new MemoryBytes({}, free);

  it('gives an upload of another size the md5 at once when the one in the way never got a byte, else after CONFLICT_IDLE_MS without bytes', () => {
    const ledger = new UploadLedger();
    const limits = new CreationLimits(ledger, bytes(1e12), { maxUploads: 10, maxUploadsPerAddress: 10 });
    const md5 = 'a'.repeat(32);
    const entry = ledger.add(meta(md5, 5 * CHUNK), 1000);
    expect(limits.conflict(entry, 1000)).to.equal('replace');
    ledger.bytesArrived(md5, CHUNK, 2000);
    const refused = limits.conflict(ledger.get(md5), 2000 + CONFLICT_IDLE_MS - 1);
    expect(refused).to.be.instanceOf(UpwireError);
    expect((refused as UpwireError).details.retryAfterMs).to.equal(1);
    expect(limits.conflict(ledger.get(md5), 2000 + CONFLICT_IDLE_MS)).to.equal('replace');
  });

  it('reserves space for the uploads that received bytes in the last RESERVATION_MS only', async () => {
    const ledger = new UploadLedger();
    const limits = new CreationLimits(ledger, bytes(10 * CHUNK), { maxUploads: 10, maxUploadsPerAddress: 10 });
    const md5 = 'b'.repeat(32);
    ledger.add(meta(md5, 8 * CHUNK), 0);
    ledger.bytesArrived(md5, CHUNK, 1000); // 7 chunks still to come
    const refused = await limits.checkSpace(4 * CHUNK, 1000 + RESERVATION_MS - 1).then(() => 'admitted', (e: UpwireError) => e.code);
    expect(refused).to.equal('E_NO_SPACE');
    expect(await limits.checkSpace(4 * CHUNK, 1000 + RESERVATION_MS).then(() => 'admitted')).to.equal('admitted');
  });

  it('counts partial uploads in all and per address, synchronously', () => {
    const ledger = new UploadLedger();
    const limits = new CreationLimits(ledger, bytes(1e12), { maxUploads: 3, maxUploadsPerAddress: 2 });
    const code = (address: string) => {
      try {
        limits.checkCaps(address);
        return 'ok';
      } catch (err) {
        return (err as UpwireError).code;
      }
    };
    ledger.add({ ...meta('1'.repeat(32), 1), createdBy: 'a' });
    ledger.add({ ...meta('2'.repeat(32), 1), createdBy: 'a' });
    expect(code('a')).to.equal('E_RATE_LIMIT');
    expect(code('b')).to.equal('ok');
    ledger.add({ ...meta('3'.repeat(32), 1), createdBy: 'b' });
    expect(code('c')).to.equal('E_BUSY');
  });
});
