/*
 * Reading a Blob (a picked File) at positions, fast. In Chromium every `blob.slice().arrayBuffer()`
 * of a file on disk is a request of its own to the browser process, which opens the file, reads it
 * and pipes it to the page: about 20 ms and 7 ms of CPU per slice of 1 MiB, so an upload that read
 * each frame that way ran at 40-50 MiB/s whatever the link (bench/browser-upload.ts). One stream
 * over the rest of the file, read with a BYOB reader straight into the caller's buffer, reads the
 * same bytes at several hundred MiB/s. Uploads read in order (the missing chunks, frame by frame),
 * so the stream is kept open between reads and a read where the last one ended goes on reading it;
 * a read elsewhere starts a new stream there.
 */

/** Reads smaller than this are one slice each (identity samples, proof ranges): a stream would read ahead for nothing. */
const STREAM_FROM = 64 * 1024;

/**
 * Reads a Blob at positions; sequential reads share one stream. Reads are served one at a time, in
 * the order they were asked. `read` may fill `into` by transferring its memory (a BYOB read
 * detaches the ArrayBuffer it is given): use the array it returns, never `into` afterwards.
 */
export class BlobReader {
  readonly #blob: Blob;
  #reader: ReadableStreamBYOBReader | undefined;
  /** Where the open stream's next byte is in the blob. */
  #position = 0;
  /** The reads asked so far, chained: a stream has one position. */
  #queue: Promise<unknown> = Promise.resolve();
  /** False once a BYOB reader could not be made here (a browser without byte streams for Blobs). */
  #canStream = typeof ReadableStreamBYOBReader !== 'undefined';

  constructor(blob: Blob) {
    this.#blob = blob;
  }

  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (length < STREAM_FROM) return this.#sliceRead(offset, length, into);
    const turn = this.#queue.then(() => this.#streamRead(offset, length, into));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  /** Lets the open stream go (the upload ended, or was paused for good). */
  async close(): Promise<void> {
    await this.#queue;
    this.#drop();
  }

  async #sliceRead(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const bytes = new Uint8Array(await this.#blob.slice(offset, offset + length).arrayBuffer());
    if (bytes.length !== length) throw new Error(`the file ended at ${offset + bytes.length} bytes`);
    if (!into) return bytes;
    into.set(bytes);
    return into.subarray(0, bytes.length);
  }

  async #streamRead(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (!this.#canStream) return this.#sliceRead(offset, length, into);
    if (!this.#reader || this.#position !== offset) {
      this.#drop();
      try {
        this.#reader = this.#blob.slice(offset).stream().getReader({ mode: 'byob' });
      } catch {
        this.#canStream = false; // Blob streams are not byte streams here
        return this.#sliceRead(offset, length, into);
      }
      this.#position = offset;
    }
    let view = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
    let filled = 0;
    try {
      while (filled < length) {
        // Each read hands the view's memory to the stream and gives it back, filled a little more.
        const { done, value } = await this.#reader.read(view.subarray(filled));
        if (done || !value) throw new Error(`the file ended at ${offset + filled} bytes`);
        view = new Uint8Array(value.buffer, value.byteOffset - filled, length);
        filled += value.length;
      }
    } catch (err) {
      this.#drop();
      throw err;
    }
    this.#position += length;
    return view;
  }

  #drop(): void {
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.cancel().catch(() => {});
  }
}
