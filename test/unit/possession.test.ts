import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { PROOF_RANGE_BYTES, PROOF_RANGES, UpwireError } from '../../src/protocol/index.js';
import { Possession, PROOF_WINDOW_MS } from '../../src/server/upload/possession.js';

const MD5 = 'ab'.repeat(16);
const TiB = 1024 ** 4;
const noBytes = { readStored: () => Readable.from([]) };

function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return (err as UpwireError).code;
  }
  return undefined;
}

describe('proof of possession (server/possession.ts)', () => {
  it('draws one range in each slice, anywhere in it: 64-bit offsets reach past 4 GiB into the slices of a 1 PiB file', () => {
    const size = 1024 * TiB;
    const proof = new Possession(noBytes, randomBytes(32));
    const { challenge, ranges } = proof.challenge('alice', MD5, size);
    const slice = Math.floor(size / PROOF_RANGES);
    expect(ranges).to.have.length(PROOF_RANGES);
    const within = ranges.map(([start, end], i) => {
      expect(end - start).to.equal(PROOF_RANGE_BYTES);
      expect(start).to.be.at.least(i * slice);
      expect(end).to.be.at.most((i + 1) * slice);
      return start - i * slice;
    });
    // 32-bit offsets (the old draw) never went past 2^32 into a slice; uniform 64-bit ones do
    // nearly always (all 256 below 2^32 in 4 TiB slices: probability 2^-2560).
    expect(within.filter((offset) => offset >= 2 ** 32).length).to.be.above(200);
    expect(proof.ranges('alice', MD5, size, challenge)).to.deep.equal(ranges);
  });

  it('asks the same ranges of one principal for one file within a window, and other ranges of another principal, file or window', () => {
    const proof = new Possession(noBytes, randomBytes(32));
    const size = 40 * 1024 * 1024;
    const now = 10 * PROOF_WINDOW_MS + 1000;
    const ranges = (owner: string, md5: string, at: number) => JSON.stringify(proof.challenge(owner, md5, size, at).ranges);
    const first = ranges('alice', MD5, now);
    expect(ranges('alice', MD5, now + 5000)).to.equal(first);
    expect(ranges('alice', MD5, now + PROOF_WINDOW_MS - 2000)).to.equal(first);
    expect(ranges('bob', MD5, now)).to.not.equal(first);
    expect(ranges('alice', 'cd'.repeat(16), now)).to.not.equal(first);
    expect(ranges('alice', MD5, now + PROOF_WINDOW_MS)).to.not.equal(first);
    // the same key (kept by the state store) after a restart: the same draw
    const key = randomBytes(32);
    const [one, two] = [new Possession(noBytes, key), new Possession(noBytes, key)];
    expect(one.challenge('alice', MD5, size, now).ranges).to.deep.equal(two.challenge('alice', MD5, size, now).ranges);
  });

  it('asks for a small file whole, and for nothing of an empty one', () => {
    const proof = new Possession(noBytes);
    expect(proof.challenge('a', MD5, PROOF_RANGES * PROOF_RANGE_BYTES).ranges).to.deep.equal([[0, PROOF_RANGES * PROOF_RANGE_BYTES]]);
    expect(proof.challenge('a', MD5, 0).ranges).to.deep.equal([]);
  });

  it('takes only its own unexpired challenge, for the same principal, file and size', () => {
    const proof = new Possession(noBytes);
    const now = Date.now();
    const { challenge } = proof.challenge('alice', MD5, 5_000_000, now);
    expect(code(() => proof.check('alice', MD5, 5_000_000, challenge, now + 1000))).to.equal(undefined);
    expect(code(() => proof.check('bob', MD5, 5_000_000, challenge, now))).to.equal('E_PROOF');
    expect(code(() => proof.check('alice', 'cd'.repeat(16), 5_000_000, challenge, now))).to.equal('E_PROOF');
    expect(code(() => proof.check('alice', MD5, 5_000_001, challenge, now))).to.equal('E_PROOF');
    expect(code(() => proof.check('alice', MD5, 5_000_000, challenge, now + 10 * 60_000))).to.equal('E_PROOF');
    const parts = challenge.split('.');
    for (const forged of [parts.slice(0, 3).join('.'), `${Number(parts[0]) + 1}.${parts.slice(1).join('.')}`, `${challenge}.x`, '']) {
      expect(code(() => proof.check('alice', MD5, 5_000_000, forged, now)), forged).to.equal('E_PROOF');
    }
    expect(code(() => new Possession(noBytes).check('alice', MD5, 5_000_000, challenge, now)), 'another key').to.equal('E_PROOF');
  });
});
