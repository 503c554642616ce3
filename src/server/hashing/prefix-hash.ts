import { DigestState, type DigestChoice, type Digests } from './digests.js';

export interface Geometry { size: number; chunkSize: number; total: number }

/**
 * MD5 (and SHA-256 with SHA256=inline) of the upload's contiguous prefix, so the merge of an
 * in-order upload needs no second read of the file. Frames are hashed as they arrive when they continue the prefix, before
 * their chunk is stored; the state at the start of each such chunk is kept (a copy of the hash
 * states, no data) so that a chunk started over by another sender, or failed, is unhashed again.
 * Whatever was not hashed on arrival (out of order, after a restart) is read back from the temp
 * file once its chunk is stored. Nothing is ever held in memory waiting for the prefix.
 */
export class PrefixHasher {
  #state: DigestState;
  /** Bytes hashed so far: [0, frontier) of the file. */
  #frontier = 0;
  /** The state at the start of each chunk hashed on arrival but not yet stored. */
  readonly #snapshots = new Map<number, DigestState>();
  #draining: Promise<void> | undefined;
  /** Bumped by every discard, so a read from disk that a discard overtook is not hashed. */
  #generation = 0;

  constructor(
    private readonly geometry: Geometry,
    private readonly isStored: (index: number) => boolean,
    /** Reads chunk `index` back, giving its bytes to `take` in order (in pieces: a chunk may be large). */
    private readonly readChunk: (index: number, take: (data: Uint8Array) => void) => Promise<void>,
    choice: DigestChoice,
    /** Told each time the prefix hashed grows: the bytes before `frontier` are hashed (final once their chunks are stored). */
    private readonly advanced: (frontier: number) => void = () => {},
  ) {
    this.#state = DigestState.start(choice);
  }

  /** Bytes hashed so far, from the start of the file. */
  get frontier(): number {
    return this.#frontier;
  }

  /** Bytes of chunk `index` at `offset`, as received for a chunk not yet stored. */
  feed(index: number, offset: number, data: Uint8Array): void {
    if (offset === 0) this.discard(index); // a chunk sent from its start again replaces what was hashed of it
    const position = index * this.geometry.chunkSize + offset;
    if (position !== this.#frontier) return;
    if (offset === 0) this.#snapshots.set(index, this.#state.copy());
    this.#state.update(data);
    this.#frontier += data.length;
    this.advanced(this.#frontier);
  }

  /** Chunk `index` will not be stored with the bytes fed for it: hash from its start again. */
  discard(index: number): void {
    const snapshot = this.#snapshots.get(index);
    if (!snapshot || this.#frontier <= index * this.geometry.chunkSize) return;
    this.#state = snapshot;
    this.#generation++;
    this.#frontier = index * this.geometry.chunkSize;
    for (const later of this.#snapshots.keys()) if (later >= index) this.#snapshots.delete(later);
  }

  /** Chunk `index` is stored: its bytes are final. When the prefix waits on it, it is read back. */
  stored(index: number): void {
    this.#snapshots.delete(index);
    if (this.#frontier === index * this.geometry.chunkSize) void this.#drain().catch(() => {}); // digest() retries and reports
  }

  /** The digests of all chunks, reading from disk whatever was not hashed on arrival. */
  async digest(): Promise<Digests> {
    await this.#drain();
    if (this.#frontier !== this.geometry.size) throw new Error(`the bytes from ${this.#frontier} on are not stored`);
    return this.#state.peek();
  }

  #drain(): Promise<void> {
    this.#draining ??= this.#readStored().finally(() => (this.#draining = undefined));
    return this.#draining;
  }

  async #readStored(): Promise<void> {
    const { chunkSize, total } = this.geometry;
    while (true) {
      const position = this.#frontier;
      const index = position / chunkSize;
      if (!Number.isInteger(index) || index >= total || !this.isStored(index)) return;
      const generation = this.#generation;
      // Hashed on a copy: a discard that overtakes the read leaves the prefix as it was.
      const state = this.#state.copy();
      let length = 0;
      await this.readChunk(index, (data) => {
        state.update(data);
        length += data.length;
      });
      if (generation !== this.#generation || position !== this.#frontier) continue; // rolled back meanwhile
      this.#state = state;
      this.#frontier += length;
      this.advanced(this.#frontier);
    }
  }
}
