import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { PROOF_RANGE_BYTES, PROOF_RANGES, UpwireError, type ProveStatus, type Range } from '../protocol/index.js';
import type { ByteStore } from './bytes/types.js';

/** A challenge is answered within this time, or asked again (a new init). */
const CHALLENGE_TTL_MS = 5 * 60_000;

/**
 * Proof of possession, for content stored by other principals: knowing an md5 must not be enough
 * to be handed the file. The server asks for the MD5 of a fresh challenge followed by a few byte
 * ranges of the file, chosen from the challenge; only someone holding those bytes can answer.
 *
 * Stateless: the challenge is `<expiry>.<nonce>.<mac>`, the MAC binding it to the principal, md5
 * and size under a per-process key, so a pending challenge holds no memory on the server. (A
 * restart makes pending challenges invalid; the client then gets E_PROOF and starts over with init.)
 */
export class Possession {
  readonly #key = randomBytes(32);

  constructor(private readonly bytes: ByteStore) {}

  challenge(owner: string, md5: string, size: number, now = Date.now()): ProveStatus {
    const unsigned = `${now + CHALLENGE_TTL_MS}.${randomBytes(12).toString('hex')}`;
    const challenge = `${unsigned}.${this.#mac(owner, md5, size, unsigned)}`;
    return { status: 'prove', md5, size, challenge, ranges: this.#ranges(challenge, size) };
  }

  /** Throws E_PROOF unless `digest` answers a challenge this server gave `owner` for this content, unexpired. */
  async verify(owner: string, md5: string, size: number, challenge: string, digest: string, now = Date.now()): Promise<void> {
    const [expiry, nonce, mac] = challenge.split('.');
    const expected = this.#mac(owner, md5, size, `${expiry}.${nonce}`);
    if (mac === undefined || mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) {
      throw new UpwireError('E_PROOF', 'this challenge was not given for this file and principal; send init again');
    }
    if (Number(expiry) < now) throw new UpwireError('E_PROOF', 'the challenge expired; send init again');
    const hash = createHash('md5').update(challenge);
    for (const [start, end] of this.#ranges(challenge, size)) {
      for await (const piece of this.bytes.readStored(md5, start, end - 1)) hash.update(piece as Buffer);
    }
    if (hash.digest('hex') !== digest) throw new UpwireError('E_PROOF', 'the bytes sent do not match the stored file');
  }

  #mac(owner: string, md5: string, size: number, unsigned: string): string {
    return createHmac('sha256', this.#key).update(`${owner}\n${md5}\n${size}\n${unsigned}`).digest('hex').slice(0, 32);
  }

  /**
   * PROOF_RANGES ranges of PROOF_RANGE_BYTES, one in each equal slice of the file, placed by the
   * challenge's MAC (unpredictable before it is given); a small file is asked for whole.
   */
  #ranges(challenge: string, size: number): Range[] {
    if (size === 0) return [];
    if (size <= PROOF_RANGES * PROOF_RANGE_BYTES) return [[0, size]];
    const seed = createHmac('sha256', this.#key).update(`ranges\n${challenge}`).digest();
    const slice = Math.floor(size / PROOF_RANGES);
    return Array.from({ length: PROOF_RANGES }, (_, i): Range => {
      const start = i * slice + (seed.readUInt32BE(i * 4) % (slice - PROOF_RANGE_BYTES + 1));
      return [start, start + PROOF_RANGE_BYTES];
    });
  }
}
