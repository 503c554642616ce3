import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { PartialBytes } from './bytes/types.js';

/** MD5 checks content against what the client claimed; SHA-256 is kept as a collision-resistant record. */
export interface Digests { md5: string; sha256: string }

/** Both digests of partial bytes as the store holds them now: one sequential read through one reused buffer. */
export async function digestsOfPartial(bytes: PartialBytes, size: number): Promise<Digests> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  const buffer = new Uint8Array(Math.min(size, 4 * 1024 * 1024));
  for (let position = 0; position < size;) {
    const data = await bytes.read(position, Math.min(buffer.length, size - position), buffer);
    md5.update(data);
    sha256.update(data);
    position += data.length;
  }
  return { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

/** Both digests of a stream (a stored file). */
export async function digestsOfStream(stream: Readable): Promise<Digests> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  for await (const data of stream as AsyncIterable<Uint8Array>) {
    md5.update(data);
    sha256.update(data);
  }
  return { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}
