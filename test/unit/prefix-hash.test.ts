import { expect } from 'chai';
import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { PrefixHasher } from '../../src/server/hashing/prefix-hash.js';

/**
 * The hasher against a model of the temp file: frames are fed as they arrive, chunks are sometimes
 * started with other bytes and then started over (as when another connection takes a chunk over),
 * stored in any order, and read back from the "disk" when they were not hashed on arrival. Whatever
 * the order, the digest must be that of the final content.
 */
describe('PrefixHasher', () => {
  const CHUNK = 64;
  const FRAME = 16;

  function model(content: Buffer, choice = { sha256: true }) {
    const total = Math.ceil(content.length / CHUNK);
    const disk = Buffer.alloc(content.length);
    const stored = new Uint8Array(total);
    const reads: number[] = [];
    const frontiers: number[] = [];
    const hasher = new PrefixHasher({ size: content.length, chunkSize: CHUNK, total }, (i) => stored[i] === 1, async (i, take) => {
      reads.push(i);
      // in two pieces, as a large chunk is read back
      const chunk = disk.subarray(i * CHUNK, Math.min(content.length, (i + 1) * CHUNK));
      take(chunk.subarray(0, 10));
      await Promise.resolve();
      take(chunk.subarray(10));
    }, choice, (frontier) => frontiers.push(frontier));
    /** Feeds (and writes) chunk `i` frame by frame with `bytes`, up to `upTo` bytes. */
    const send = (i: number, bytes: Buffer, upTo = bytes.length) => {
      for (let offset = 0; offset < upTo; offset += FRAME) {
        const frame = bytes.subarray(offset, Math.min(upTo, offset + FRAME));
        frame.copy(disk, i * CHUNK + offset);
        hasher.feed(i, offset, frame);
      }
    };
    const chunkOf = (i: number) => content.subarray(i * CHUNK, Math.min(content.length, (i + 1) * CHUNK));
    const store = (i: number) => {
      stored[i] = 1;
      hasher.stored(i);
    };
    return { total, hasher, send, store, chunkOf, reads, frontiers };
  }

  const expected = (content: Buffer) => ({
    md5: createHash('md5').update(content).digest('hex'),
    sha256: createHash('sha256').update(content).digest('hex'),
  });

  it('hashes an in-order upload as it arrives, reading nothing back', async () => {
    const content = randomBytes(10 * CHUNK + 5);
    const m = model(content);
    for (let i = 0; i < m.total; i++) {
      m.send(i, m.chunkOf(i));
      m.store(i);
    }
    expect(await m.hasher.digest()).to.deep.equal(expected(content));
    expect(m.reads).to.deep.equal([]);
    // told of the prefix as it grows, frame by frame (a store may let go of what is hashed)
    expect(m.frontiers.at(-1)).to.equal(content.length);
    expect(m.frontiers).to.deep.equal([...m.frontiers].sort((a, b) => a - b));
  });

  it('tells the prefix as it grows when chunks came out of order and were read back', async () => {
    const content = randomBytes(4 * CHUNK);
    const m = model(content);
    for (const i of [1, 2, 3]) {
      m.send(i, m.chunkOf(i));
      m.store(i);
    }
    expect(m.frontiers).to.deep.equal([]);
    m.send(0, m.chunkOf(0));
    m.store(0);
    expect(await m.hasher.digest()).to.deep.equal(expected(content));
    expect(m.reads).to.deep.equal([1, 2, 3]);
    expect(m.frontiers.slice(-3)).to.deep.equal([2 * CHUNK, 3 * CHUNK, 4 * CHUNK]);
  });

  it('computes the MD5 alone when the SHA-256 is left to a later pass', async () => {
    const content = randomBytes(3 * CHUNK + 5);
    const m = model(content, { sha256: false });
    for (let i = m.total - 1; i >= 0; i--) { // backwards: the prefix is read back too
      m.send(i, m.chunkOf(i));
      m.store(i);
    }
    expect(await m.hasher.digest()).to.deep.equal({ md5: expected(content).md5 });
  });

  it('unhashes a chunk started over by another sender, and the chunks hashed after it', async () => {
    const content = randomBytes(4 * CHUNK);
    const m = model(content);
    m.send(0, m.chunkOf(0));
    m.send(1, randomBytes(CHUNK), 2 * FRAME); // half of chunk 1 from a sender that then went away
    m.send(1, m.chunkOf(1)); // started over from offset 0 with the true bytes
    m.store(0);
    m.store(1);
    m.send(2, m.chunkOf(2));
    m.send(3, randomBytes(CHUNK)); // chunk 3 all hashed, then taken over
    m.hasher.discard(3);
    m.send(3, m.chunkOf(3));
    m.store(2);
    m.store(3);
    expect(await m.hasher.digest()).to.deep.equal(expected(content));
  });

  it('refuses a digest while bytes are missing', async () => {
    const m = model(randomBytes(3 * CHUNK));
    m.send(0, m.chunkOf(0));
    m.store(0);
    m.store(2);
    const outcome = await m.hasher.digest().then(() => 'digested', (err: Error) => err.message);
    expect(outcome).to.match(/not stored/);
  });

  it('gives the digest of the final content for any order, any abandoned sender and any takeover', async () => {
    const plan = fc.record({
      chunks: fc.integer({ min: 1, max: 8 }),
      tail: fc.integer({ min: 1, max: CHUNK }),
      order: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
      garbage: fc.array(fc.integer({ min: 0, max: CHUNK / FRAME }), { minLength: 8, maxLength: 8 }),
      storeLate: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    });
    await fc.assert(fc.asyncProperty(plan, async ({ chunks, tail, order, garbage, storeLate }) => {
      const content = randomBytes((chunks - 1) * CHUNK + tail);
      const m = model(content);
      const indices = Array.from({ length: m.total }, (_, i) => i).sort((a, b) => (order[a] ?? 0) - (order[b] ?? 0));
      const late: number[] = [];
      for (const i of indices) {
        const frames = garbage[i] ?? 0;
        if (frames > 0) {
          // another sender's bytes, then the chunk started over (the session calls discard on takeover)
          m.send(i, randomBytes(m.chunkOf(i).length), Math.min(frames * FRAME, m.chunkOf(i).length));
          m.hasher.discard(i);
        }
        m.send(i, m.chunkOf(i));
        if (storeLate[i]) late.push(i);
        else m.store(i);
      }
      for (const i of late) m.store(i);
      expect(await m.hasher.digest()).to.deep.equal(expected(content));
    }), { numRuns: 300 });
  });
});
