import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { MemoryBytes } from '../../src/server/bytes/memory.js';
import { UploadSession } from '../../src/server/session/session.js';
import { MemoryStores } from '../../src/server/store/memory.js';
import type { UploadMeta } from '../../src/server/store/types.js';
import { MIN_FRAME_SIZE } from '../../src/protocol/index.js';

const CHUNK = 4 * MIN_FRAME_SIZE;
const FRAME = MIN_FRAME_SIZE;

/** A session over in-memory bytes and state: the frame rules without a server or a disk. */
async function session(content: Buffer, verify: 'received' | 'disk' = 'received') {
  const md5 = createHash('md5').update(content).digest('hex');
  const total = Math.ceil(content.length / CHUNK);
  const meta: UploadMeta = {
    id: md5, md5, size: content.length, chunkSize: CHUNK, total, name: 'x', type: 'x', createdAt: 0, updatedAt: 0,
    uploader: { principal: { id: '*', role: 'upload' }, name: 'x', type: 'x' },
  };
  const stores = new MemoryStores();
  const bytes = new MemoryBytes();
  await stores.putUpload(meta);
  const s = await UploadSession.open(meta, { uploads: stores, bytes, fsync: true, verify, digests: { sha256: true }, events: { written: () => {} } }, { fresh: true });
  const frame = (index: number, offset: number, client = 'a', data = content) =>
    s.frame(index, offset, data.subarray(index * CHUNK + offset, Math.min(index * CHUNK + offset + FRAME, (index + 1) * CHUNK, data.length)), client);
  const chunk = async (index: number, client = 'a') => {
    let last;
    for (let offset = 0; index * CHUNK + offset < Math.min((index + 1) * CHUNK, content.length); offset += FRAME) last = await frame(index, offset, client);
    return last!;
  };
  return { s, stores, frame, chunk, total };
}

describe('UploadSession (in-memory bytes and state)', () => {
  it('stores a chunk when its last frame is written, and records it', async () => {
    const { s, stores, frame } = await session(randomBytes(2 * CHUNK));
    expect(await frame(0, 0)).to.deep.equal({ accepted: true, stored: false });
    expect(await frame(0, FRAME)).to.deep.equal({ accepted: true, stored: false });
    expect(await frame(0, 2 * FRAME)).to.deep.equal({ accepted: true, stored: false });
    expect(await frame(0, 3 * FRAME)).to.deep.equal({ accepted: true, stored: true });
    expect(await stores.receivedIndices(s.md5)).to.deep.equal([0]);
    expect(s.next).to.equal(1);
  });

  it('does not accept a frame that skips ahead, or one for a stored chunk', async () => {
    const { s, frame, chunk } = await session(randomBytes(2 * CHUNK));
    expect(await frame(1, FRAME)).to.deep.equal({ accepted: false, stored: false }); // no frame 0 before it
    await frame(1, 0);
    expect(await frame(1, 2 * FRAME)).to.deep.equal({ accepted: false, stored: false }); // a gap
    await chunk(0);
    expect(await frame(0, 0)).to.deep.equal({ accepted: false, stored: true });
    expect(s.receivedCount).to.equal(1);
  });

  it('lets another connection start a chunk over; the first sender\'s bytes are then refused and the content verifies', async () => {
    const content = randomBytes(2 * CHUNK + 100);
    const garbage = randomBytes(content.length);
    const { s, frame, chunk } = await session(content);
    await chunk(0);
    await frame(1, 0, 'liar', garbage);
    await frame(1, FRAME, 'liar', garbage);
    await frame(1, 0, 'honest'); // takes chunk 1 over
    expect(await frame(1, 2 * FRAME, 'liar', garbage)).to.deep.equal({ accepted: false, stored: false });
    for (let offset = FRAME; offset < CHUNK; offset += FRAME) await frame(1, offset, 'honest');
    await chunk(2);
    expect(s.complete).to.equal(true);
    expect(await s.verify()).to.deep.equal({ sha256: createHash('sha256').update(content).digest('hex') });
  });

  it('refuses content that does not hash to the md5, whichever way it is verified', async () => {
    for (const verify of ['received', 'disk'] as const) {
      const content = randomBytes(CHUNK + 5);
      const { s, chunk, frame } = await session(content, verify);
      await chunk(0);
      const wrong = Buffer.from(content);
      wrong[wrong.length - 1]! ^= 1;
      await frame(1, 0, 'a', wrong);
      expect(s.complete).to.equal(true);
      expect(await s.verify(), verify).to.equal(undefined);
    }
  });

  it('refuses frames that do not fit the chunk, before anything is written', async () => {
    const { s } = await session(randomBytes(CHUNK + 5));
    expect(() => s.check(0, 2, CHUNK - 10, 11)).to.throw().with.property('code', 'E_CHUNK_SIZE');
    expect(() => s.check(0, 2, 0, 100)).to.throw().with.property('code', 'E_CHUNK_SIZE'); // short and not the last
    expect(() => s.check(1, 2, 0, 5)).to.not.throw(); // the last frame of the last chunk
    expect(() => s.check(2, 2, 0, 5)).to.throw().with.property('code', 'E_INDEX');
    expect(() => s.check(0, 3, 0, FRAME)).to.throw().with.property('code', 'E_INDEX');
  });
});
