import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { BlobReader } from '../../src/client/blob-reader.js';

const KiB = 1024;
const FRAME = 512 * KiB;

/** A Blob of `data` that counts the streams opened on it (every stream starts at a slice of it). */
class CountingBlob extends Blob {
  streams = 0;
  override slice(start?: number, end?: number, type?: string): Blob {
    const slice = super.slice(start, end, type);
    const stream = slice.stream.bind(slice);
    slice.stream = () => {
      this.streams++;
      return stream();
    };
    return slice;
  }
}

/** A Blob whose streams are not byte streams (no BYOB reader), as in a browser without them. */
class ByteStreamlessBlob extends Blob {
  override slice(start?: number, end?: number, type?: string): Blob {
    const slice = super.slice(start, end, type);
    slice.stream = () => new ReadableStream({ start: (c) => c.close() }) as ReturnType<Blob['stream']>;
    return slice;
  }
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('BlobReader (client/blob-reader.ts)', () => {
  const data = randomBytes(5 * FRAME + 12345);

  it('reads frames in order through one stream, into the buffer given, with exact bytes', async () => {
    const blob = new CountingBlob([data]);
    const reader = new BlobReader(blob);
    let buffer: Uint8Array = new Uint8Array(FRAME);
    for (let offset = 0; offset < data.length; offset += FRAME) {
      const length = Math.min(FRAME, data.length - offset);
      const bytes = await reader.read(offset, length, buffer);
      expect(bytes.length).to.equal(length);
      expect(equalBytes(bytes, data.subarray(offset, offset + length)), `at ${offset}`).to.equal(true);
      expect(bytes.buffer.byteLength).to.equal(FRAME); // the buffer given (its memory, handed back)
      buffer = new Uint8Array(bytes.buffer);
    }
    expect(blob.streams).to.equal(1);
    await reader.close();
  });

  it('starts a new stream for a read elsewhere, and reads small ranges as slices', async () => {
    const blob = new CountingBlob([data]);
    const reader = new BlobReader(blob);
    const at = [3 * FRAME, FRAME, FRAME + 100 * KiB, 4 * FRAME];
    for (const offset of at) expect(equalBytes(await reader.read(offset, 100 * KiB), data.subarray(offset, offset + 100 * KiB))).to.equal(true);
    // FRAME + 100 KiB continues where the read at FRAME ended: 3 streams for 4 reads
    expect(blob.streams).to.equal(3);
    expect(equalBytes(await reader.read(7, 4 * KiB), data.subarray(7, 7 + 4 * KiB))).to.equal(true);
    expect(blob.streams).to.equal(3);
    await reader.close();
  });

  it('serves reads asked at once one after another, each with its own bytes', async () => {
    const reader = new BlobReader(new Blob([data]));
    const offsets = [0, FRAME, 2 * FRAME, 10, 4 * FRAME];
    const read = await Promise.all(offsets.map((offset) => reader.read(offset, 200 * KiB)));
    offsets.forEach((offset, i) => expect(equalBytes(read[i]!, data.subarray(offset, offset + 200 * KiB)), `at ${offset}`).to.equal(true));
    await reader.close();
  });

  it('fails a read past the end, stream or slice, and reads again after it', async () => {
    const reader = new BlobReader(new Blob([data]));
    await reader.read(data.length - FRAME + 10, FRAME).then(() => expect.fail('read past the end'), (err: Error) => expect(err.message).to.match(/ended at/));
    await reader.read(data.length - 10, 20).then(() => expect.fail('read past the end'), (err: Error) => expect(err.message).to.match(/ended at/));
    expect(equalBytes(await reader.read(FRAME, FRAME), data.subarray(FRAME, 2 * FRAME))).to.equal(true);
    await reader.close();
  });

  it('reads by slices where a Blob\'s stream is not a byte stream', async () => {
    const reader = new BlobReader(new ByteStreamlessBlob([data]));
    const into = new Uint8Array(FRAME);
    const bytes = await reader.read(FRAME, FRAME, into);
    expect(equalBytes(bytes, data.subarray(FRAME, 2 * FRAME))).to.equal(true);
    expect(bytes.buffer).to.equal(into.buffer); // copied into it
    await reader.close();
  });
});
