import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ByteStore, PartialBytes } from '../bytes/types.js';

/**
 * MD5 checks content against what the client claimed; SHA-256 is kept as a collision-resistant
 * record, when the server computes it in the same pass (SHA256=inline).
 */
export interface Digests { md5: string; sha256?: string }

/** Which digests a pass computes: MD5 always, SHA-256 when asked. */
export interface DigestChoice { sha256: boolean }

/** Digests updated together; `copy()` for a state to go back to. */
export class DigestState {
  private constructor(private readonly md5: Hash, private readonly sha256: Hash | undefined) {}

  static start({ sha256 }: DigestChoice): DigestState {
    return new DigestState(createHash('md5'), sha256 ? createHash('sha256') : undefined);
  }

  update(data: Uint8Array): void {
    this.md5.update(data);
    this.sha256?.update(data);
  }

  copy(): DigestState {
    return new DigestState(this.md5.copy(), this.sha256?.copy());
  }

  /** The digests so far; this state can go on being updated. */
  peek(): Digests {
    const md5 = this.md5.copy().digest('hex');
    return this.sha256 ? { md5, sha256: this.sha256.copy().digest('hex') } : { md5 };
  }

  digest(): Digests {
    const md5 = this.md5.digest('hex');
    return this.sha256 ? { md5, sha256: this.sha256.digest('hex') } : { md5 };
  }
}

/**
 * The digests of partial bytes as the store holds them now: one sequential read through one reused
 * buffer. `signal` stops the pass between reads (a merge whose lock was lost must not go on).
 */
export async function digestsOfPartial(bytes: PartialBytes, size: number, choice: DigestChoice, signal?: AbortSignal): Promise<Digests> {
  const state = DigestState.start(choice);
  const buffer = new Uint8Array(Math.min(size, 4 * 1024 * 1024));
  for (let position = 0; position < size;) {
    signal?.throwIfAborted();
    const data = await bytes.read(position, Math.min(buffer.length, size - position), buffer);
    state.update(data);
    position += data.length;
  }
  return state.digest();
}

/** The whole of a stored file of `size` bytes (readStored takes an inclusive range, which cannot be empty). */
export function storedContent(bytes: Pick<ByteStore, 'readStored'>, md5: string, size: number): Readable {
  return size === 0 ? Readable.from([]) : bytes.readStored(md5, 0, size - 1);
}

/** SHA-256 of a stream (a stored file). */
export async function sha256OfStream(stream: Readable): Promise<string> {
  const sha256 = createHash('sha256');
  for await (const data of stream as AsyncIterable<Uint8Array>) sha256.update(data);
  return sha256.digest('hex');
}
