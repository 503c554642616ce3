import type { UploadMeta } from '../store/types.js';

export interface LedgerEntry {
  /** The upload's id (see upload-id.ts), and its content's md5. */
  id: string;
  md5: string;
  size: number;
  /** Bytes of the chunks stored. */
  received: number;
  createdAt: number;
  createdBy: string | undefined;
  /** When bytes last arrived (a frame or a recorded chunk); 0 when none ever did. */
  lastBytes: number;
  /** When a client last did anything with it (init, status, a frame). */
  lastSeen: number;
}

/**
 * What the server knows of every partial upload without opening it, kept in memory (a few dozen
 * bytes each, and their number is capped): the caps per address and in all, the disk space the
 * active ones may still need, and which ones to expire. Rebuilt from the state store at start,
 * from the same fields it keeps up to date, so the rules are the same before and after a restart.
 */
export class UploadLedger {
  readonly #entries = new Map<string, LedgerEntry>();
  readonly #perAddress = new Map<string, number>();

  add(meta: UploadMeta, now = Date.now()): LedgerEntry {
    this.remove(meta.id);
    const received = meta.received ?? 0;
    const entry: LedgerEntry = {
      id: meta.id, md5: meta.md5, size: meta.size, received, createdAt: meta.createdAt, createdBy: meta.createdBy,
      lastBytes: received > 0 ? meta.updatedAt : 0,
      lastSeen: Math.max(meta.updatedAt, Math.min(now, meta.createdAt)),
    };
    this.#entries.set(meta.id, entry);
    if (entry.createdBy !== undefined) this.#perAddress.set(entry.createdBy, this.countFor(entry.createdBy) + 1);
    return entry;
  }

  remove(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#entries.delete(id);
    if (entry.createdBy === undefined) return;
    const left = this.countFor(entry.createdBy) - 1;
    if (left > 0) this.#perAddress.set(entry.createdBy, left);
    else this.#perAddress.delete(entry.createdBy);
  }

  get(id: string): LedgerEntry | undefined {
    return this.#entries.get(id);
  }

  /** Bytes arrived for it (a frame was written); `received` when a chunk was stored. */
  bytesArrived(id: string, received?: number, now = Date.now()): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    entry.lastBytes = entry.lastSeen = now;
    if (received !== undefined) entry.received = received;
  }

  seen(id: string, now = Date.now()): void {
    const entry = this.#entries.get(id);
    if (entry) entry.lastSeen = Math.max(entry.lastSeen, now);
  }

  get size(): number {
    return this.#entries.size;
  }

  countFor(address: string): number {
    return this.#perAddress.get(address) ?? 0;
  }

  /**
   * Bytes the active uploads may still write: what is left of each upload that received bytes in
   * the last `windowMs`. An upload only reserves space while bytes flow: an init alone reserves none.
   */
  reserved(now: number, windowMs: number): number {
    let bytes = 0;
    for (const entry of this.#entries.values()) {
      if (entry.lastBytes > 0 && now - entry.lastBytes < windowMs) bytes += entry.size - entry.received;
    }
    return bytes;
  }

  entries(): IterableIterator<LedgerEntry> {
    return this.#entries.values();
  }
}
