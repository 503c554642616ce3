/** Free buffers kept for reuse; beyond this the smallest are let go. */
const MAX_FREE = 8;

/**
 * Frame buffers reused across frames, so sending allocates only while the window grows. A buffer is
 * given back only once its frame was answered: until then the packet may still sit in a write queue.
 */
export class BufferPool {
  readonly #free: Uint8Array[] = [];

  /**
   * A buffer of exactly `length` bytes: a view of a free one when one is large enough, else a new
   * one rounded up to a power of two, so that buffers still fit as the frame size moves with the window.
   */
  take(length: number): Uint8Array {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.length;
      if (size >= length && (best < 0 || size < this.#free[best]!.length)) best = i;
    }
    if (best < 0) return new Uint8Array(2 ** Math.ceil(Math.log2(Math.max(1, length)))).subarray(0, length);
    const [buffer] = this.#free.splice(best, 1);
    return buffer!.subarray(0, length);
  }

  give(buffer: Uint8Array): void {
    // A view handed out by take() gives back its whole buffer.
    this.#free.push(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.buffer.byteLength - buffer.byteOffset));
    if (this.#free.length > MAX_FREE) {
      this.#free.sort((a, b) => b.length - a.length);
      this.#free.length = MAX_FREE;
    }
  }
}
