/** One place in the window, with the buffer its chunks are read into (reused, grown on demand). */
export interface Slot { buffer: Uint8Array }

/**
 * The chunks in flight on one connection. socket.io has no backpressure of its own: the acks are
 * it, and this window bounds them, shared by every upload on the connection, so memory stays at
 * `size` chunk buffers however many files are sent at once.
 */
export class ChunkWindow {
  readonly size: number;
  readonly #free: Slot[];
  readonly #waiting: ((slot: Slot) => void)[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('the window must hold at least one chunk');
    this.size = size;
    this.#free = Array.from({ length: size }, () => ({ buffer: new Uint8Array(0) }));
  }

  acquire(): Promise<Slot> {
    const slot = this.#free.pop();
    return slot ? Promise.resolve(slot) : new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(slot: Slot): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else this.#free.push(slot);
  }
}

/** The slot's buffer, at least `length` bytes long. */
export function bufferOf(slot: Slot, length: number): Uint8Array {
  if (slot.buffer.length < length) slot.buffer = new Uint8Array(length);
  return slot.buffer;
}
