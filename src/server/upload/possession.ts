import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { PROOF_RANGE_BYTES, PROOF_RANGES, UpwireError, type ProveStatus, type Range } from '../../protocol/index.js';
import type { ByteStore } from '../bytes/types.js';

/** A challenge is answered within this time, or asked again (a new init). */
const CHALLENGE_TTL_MS = 5 * 60_000;

/** The ranges asked of one principal for one file change once per window, however often it asks. */
export const PROOF_WINDOW_MS = 3600_000;

/**
 * Proof of possession, for content stored by other principals: knowing an md5 (and the size) must
 * not be enough to be handed the file. The server asks for the MD5 of a fresh challenge followed
 * by PROOF_RANGES byte ranges of the file, one placed at random in each of as many equal slices.
 *
 * What a partial copy gets. A principal holding a fraction f of the file (counted as the share of
 * places where a whole range falls in bytes it holds) answers one set of ranges with probability at
 * most f^PROOF_RANGES (the ranges are drawn independently, slice by slice: the product of each
 * slice's share, which is at most f^k by the inequality of means). Asking again does not help: the
 * ranges are a function of (principal, md5, size, hour), under a key only the server knows, so one
 * principal gets one draw per file per hour: at most 24 f^256 a day (f = 0.9: 5e-11; f = 0.5: 2e-76).
 * A principal that holds nearly all of a file (all but a few KiB it could not guess) can pass: the
 * proof samples the file, it does not read all of it.
 *
 * The key comes from the state store when it keeps one (LevelDB, Redis: the same on every node
 * and after a restart, so neither more nodes nor a restart give more draws); else from this process.
 * The challenge is `<window>.<expiry>.<nonce>.<mac>`, the MAC binding it to the principal, md5 and
 * size: a pending challenge holds no memory on the server.
 */
export class Possession {
  constructor(
    private readonly bytes: Pick<ByteStore, 'readStored'>,
    private readonly key: Uint8Array = randomBytes(32),
  ) {}

  challenge(owner: string, md5: string, size: number, now = Date.now()): ProveStatus {
    const unsigned = `${Math.floor(now / PROOF_WINDOW_MS)}.${now + CHALLENGE_TTL_MS}.${randomBytes(12).toString('hex')}`;
    const challenge = `${unsigned}.${this.#mac(owner, md5, size, unsigned)}`;
    return { status: 'prove', md5, size, challenge, ranges: this.ranges(owner, md5, size, challenge) };
  }

  /**
   * Throws E_PROOF unless `challenge` is one this server gave `owner` for this content and it has
   * not expired. Cheap (no read): done before anything about the stored file is looked up.
   */
  check(owner: string, md5: string, size: number, challenge: string, now = Date.now()): void {
    const parts = challenge.split('.');
    const mac = parts.pop() ?? '';
    const expected = this.#mac(owner, md5, size, parts.join('.'));
    if (parts.length !== 3 || mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) {
      throw new UpwireError('E_PROOF', 'this challenge was not given for this file and principal; send init again');
    }
    if (Number(parts[1]) < now) throw new UpwireError('E_PROOF', 'the challenge expired; send init again');
  }

  /** Throws E_PROOF unless `digest` is the MD5 of the challenge and the stored bytes of its ranges (check() first). */
  async verify(owner: string, md5: string, size: number, challenge: string, digest: string): Promise<void> {
    const hash = createHash('md5').update(challenge);
    for (const [start, end] of this.ranges(owner, md5, size, challenge)) {
      for await (const piece of this.bytes.readStored(md5, start, end - 1)) hash.update(piece as Buffer);
    }
    if (hash.digest('hex') !== digest) throw new UpwireError('E_PROOF', 'the bytes sent do not match the stored file');
  }

  /**
   * The ranges of a challenge, from its window: PROOF_RANGES of PROOF_RANGE_BYTES, one in each equal
   * slice of the file, at an offset drawn uniformly (64-bit draws, rejection sampling: no modulo
   * bias, and any offset a file up to 2^53 bytes has); a small file is asked for whole.
   */
  ranges(owner: string, md5: string, size: number, challenge: string): Range[] {
    if (size === 0) return [];
    if (size <= PROOF_RANGES * PROOF_RANGE_BYTES) return [[0, size]];
    const draws = this.#draws(`${owner}\n${md5}\n${size}\n${challenge.split('.')[0]}`);
    const slice = Math.floor(size / PROOF_RANGES);
    const span = BigInt(slice - PROOF_RANGE_BYTES + 1);
    return Array.from({ length: PROOF_RANGES }, (_, i): Range => {
      const start = i * slice + Number(uniformBelow(span, draws));
      return [start, start + PROOF_RANGE_BYTES];
    });
  }

  /** An endless stream of 64-bit values from HMAC(key, seed, counter): unpredictable without the key. */
  *#draws(seed: string): Generator<bigint> {
    for (let counter = 0; ; counter++) {
      const block = createHmac('sha256', this.key).update(`ranges\n${seed}\n${counter}`).digest();
      for (let i = 0; i < block.length; i += 8) yield block.readBigUInt64BE(i);
    }
  }

  #mac(owner: string, md5: string, size: number, unsigned: string): string {
    return createHmac('sha256', this.key).update(`challenge\n${owner}\n${md5}\n${size}\n${unsigned}`).digest('hex').slice(0, 32);
  }
}

const TWO_64 = 1n << 64n;

/** A value uniform in [0, span): draws at or above the largest multiple of span below 2^64 are skipped. */
function uniformBelow(span: bigint, draws: Iterator<bigint>): bigint {
  const limit = TWO_64 - (TWO_64 % span);
  for (;;) {
    const value = draws.next().value as bigint;
    if (value < limit) return value % span;
  }
}
