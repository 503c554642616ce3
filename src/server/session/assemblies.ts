/** A chunk being received frame by frame, in order, from one connection. No data is held here. */
export interface Assembly {
  readonly index: number;
  readonly owner: string;
  /** Bytes accepted so far, from offset 0: the next frame must start here. */
  received: number;
  /** Bytes written to the temp file so far. */
  written: number;
  /** Every byte is written and the chunk is being recorded: it takes no more frames. */
  sealed: boolean;
}

/**
 * The chunks of one upload that are in progress. A frame at offset 0 starts a chunk, over again if
 * it was in progress (a client that reconnected sends from 0 on a new connection, and a chunk must
 * hold one sender's bytes only, the ones that were hashed); later frames must continue where the
 * same connection stopped. At most `limit` chunks are in progress at once: starting one more
 * forgets the one untouched longest, whose next frames are then not accepted.
 */
export class Assemblies {
  /** In order of last use, oldest first (a Map keeps insertion order). */
  readonly #byIndex = new Map<number, Assembly>();

  constructor(
    private readonly limit: number,
    /** Told of every assembly dropped before it was sealed: its bytes will not be stored. */
    private readonly onDropped: (assembly: Assembly) => void,
  ) {}

  /** Starts chunk `index` for `owner`; undefined when it is sealed (being recorded by another frame). */
  start(index: number, owner: string): Assembly | undefined {
    const current = this.#byIndex.get(index);
    if (current?.sealed) return undefined;
    if (current) this.drop(current);
    const assembly: Assembly = { index, owner, received: 0, written: 0, sealed: false };
    this.#byIndex.set(index, assembly);
    if (this.#byIndex.size > this.limit) this.#evictOne();
    return assembly;
  }

  /** The assembly a frame at `offset` from `owner` continues, if there is one. */
  continue(index: number, owner: string, offset: number): Assembly | undefined {
    const current = this.#byIndex.get(index);
    if (!current || current.sealed || current.owner !== owner || current.received !== offset) return undefined;
    this.#byIndex.delete(index);
    this.#byIndex.set(index, current);
    return current;
  }

  isCurrent(assembly: Assembly): boolean {
    return this.#byIndex.get(assembly.index) === assembly;
  }

  /** Forgets an assembly that will not complete (started over, failed, evicted). */
  drop(assembly: Assembly): void {
    if (!this.isCurrent(assembly)) return;
    this.#byIndex.delete(assembly.index);
    this.onDropped(assembly);
  }

  /** Forgets a sealed assembly once its chunk is stored. */
  finish(assembly: Assembly): void {
    if (this.isCurrent(assembly)) this.#byIndex.delete(assembly.index);
  }

  /** Bytes written of chunks in progress. */
  get writtenBytes(): number {
    let bytes = 0;
    for (const assembly of this.#byIndex.values()) bytes += assembly.written;
    return bytes;
  }

  get size(): number {
    return this.#byIndex.size;
  }

  #evictOne(): void {
    for (const assembly of this.#byIndex.values()) {
      if (!assembly.sealed) return this.drop(assembly);
    }
  }
}
