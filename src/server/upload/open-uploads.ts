import type { ByteStore } from '../bytes/types.js';
import type { UploadLedger } from './ledger.js';
import { UploadSession, type SessionDeps } from '../session/session.js';
import type { Fence, UploadMeta, UploadStateStore } from '../store/types.js';

/** An open session idle this long is forgotten from memory (its state stays in the store). */
export const IDLE_UNLOAD_MS = 5 * 60_000;

export interface OpenUploadsDeps {
  uploads: UploadStateStore;
  bytes: ByteStore;
  ledger: UploadLedger;
  session: SessionDeps;
}

/**
 * The uploads in progress this process holds open (a session each: its temp file, chunks, prefix
 * hash), by upload id, loaded from the state store on demand and let go of when idle. Every method
 * but `get` is called under the upload's lock; `fence` is that lock, for the store's writes.
 */
export class OpenUploads {
  readonly #deps: OpenUploadsDeps;
  readonly #sessions = new Map<string, UploadSession>();

  constructor(deps: OpenUploadsDeps) {
    this.#deps = deps;
  }

  /** The session open now, without the lock (the chunk path's fast way). */
  get(id: string): UploadSession | undefined {
    return this.#sessions.get(id);
  }

  /** The session of an upload that takes bytes (not one that is completed), opened when it is not. */
  async load(id: string): Promise<UploadSession | undefined> {
    const open = this.#sessions.get(id);
    if (open) return open;
    const meta = await this.#deps.uploads.getUpload(id);
    // A completed upload (its onUploadComplete still to succeed) takes no more bytes.
    if (!meta || meta.completed) return undefined;
    const session = await UploadSession.open(meta, this.#deps.session);
    this.#sessions.set(id, session);
    return session;
  }

  /** A new upload: its record written, its session open. */
  async create(meta: UploadMeta): Promise<UploadSession> {
    await this.#deps.uploads.putUpload(meta);
    const session = await UploadSession.open(meta, this.#deps.session, { fresh: true });
    this.#sessions.set(meta.id, session);
    return session;
  }

  /** Closes a session (writes in flight finish) and forgets it from memory; its state stays. */
  async unload(session: UploadSession): Promise<void> {
    await session.close();
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
  }

  /** Forgets an upload: its session, record and bytes. True when there was one. */
  async forget(id: string, fence?: Fence): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (session) await this.unload(session);
    const meta = session?.meta ?? (await this.#deps.uploads.getUpload(id));
    await this.#deps.uploads.deleteUpload(id, fence);
    await this.#deps.bytes.removePartial(id, meta?.handle);
    this.#deps.ledger.remove(id);
    return meta !== undefined;
  }

  /**
   * After a failed verification: the upload stays, with no chunk. Indices go first (bytes without
   * an index are harmless, an index without its bytes is not), then the temp file, which the next
   * request opens afresh (the old one may have been deleted behind our back).
   */
  async startOver(session: UploadSession, fence?: Fence): Promise<void> {
    await this.unload(session);
    await this.#deps.uploads.clearChunks(session.id, fence);
    await this.#deps.bytes.removePartial(session.id, session.meta.handle);
    // What backed the bytes is gone with them (an object store's multipart upload): a new one for the bytes to come.
    const handle = await this.#deps.bytes.begin?.(session.id, session.meta);
    if (handle !== undefined) await this.#deps.uploads.putUpload({ ...session.meta, handle }, fence);
  }

  /** Sessions open now. */
  all(): UploadSession[] {
    return [...this.#sessions.values()];
  }

  /** Sessions with no frame in flight and none for IDLE_UNLOAD_MS. */
  idle(now: number): UploadSession[] {
    return this.all().filter((session) => !session.busy && now - session.lastActive > IDLE_UNLOAD_MS);
  }
}
