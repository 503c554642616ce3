import {
  chunkCount, UpwireError,
  type ChunkAck, type CompleteStatus, type DeleteAnswer, type NoneStatus, type ParsedChunk,
  type ParsedInit, type ParsedPreflight, type PartialStatus, type ProveRequest, type ProveStatus, type UploadSnapshot,
} from '../../protocol/index.js';
import { EVERYONE, type Principal } from '../model/principal.js';
import { checkFileSize, CreationLimits } from './creation-limits.js';
import { uploaderFor, Completions, entryInfo, entryOf, fileInfo } from './completion.js';
import type { ServerConfig } from '../config/config.js';
import type { ByteStore, ByteStoreCapabilities } from '../bytes/types.js';
import { failpoint } from '../observe/failpoints.js';
import type { UploadEvents } from '../observe/events.js';
import type { UpwireHooks } from '../model/hooks.js';
import { UploadLedger } from './ledger.js';
import { withLock, type Guard, type Locker } from '../lock/types.js';
import { OpenUploads } from './open-uploads.js';
import { Possession } from './possession.js';
import { SessionClosed, type FrameResult, type UploadSession } from '../session/session.js';
import { Sha256Records } from '../hashing/sha256-records.js';
import { StoredFiles } from './stored-files.js';
import { UploadGone, type FileEntry, type FileIndex, type FileRecord, type Uploader, type UploadMeta, type UploadStateStore } from '../store/types.js';
import { uploadId } from './upload-id.js';
import { Upkeep } from './upkeep.js';

export interface ServiceDeps {
  uploads: UploadStateStore;
  files: FileIndex;
  bytes: ByteStore;
  locker: Locker;
  events: UploadEvents;
  config: Pick<ServerConfig, 'chunkSize' | 'maxFileSize' | 'partialTtlMs' | 'emptyTtlMs' | 'fsync' | 'verify' | 'sha256' | 'maxUploads' | 'maxUploadsPerAddress'>;
  hooks?: Pick<UpwireHooks, 'onUploadCreate' | 'onUploadComplete' | 'onFileDeleted'>;
  /**
   * Files and uploads belong to principals (an authorize hook names them): each principal's upload
   * of some content is its own (upload-id.ts), and an instant upload of content that only others
   * stored asks for a proof of possession first. Otherwise the server is one store for everyone.
   */
  perPrincipal?: boolean;
  /**
   * Several nodes share the stores (Redis mode, files on shared storage): a session is a
   * cache refreshed from the store before it answers, the merge verifies a sealed copy of its own
   * read back from the store (another node may hold a handle on the temp file), and one node at a
   * time sweeps.
   */
  severalNodes?: boolean;
}

/** Who asks: the principal, and the client's address (for the per-address cap). */
export interface Caller {
  principal: Principal;
  address?: string;
}

/** The caller of code that runs inside the server (tests, recovery): EVERYONE. */
export const LOCAL: Caller = { principal: { id: EVERYONE, role: 'upload' } };

/** Uploads count as receiving bytes (SHA-256 passes wait) until this long after the last frame. */
const RECEIVING_MS = 250;

/**
 * The upload operations of the protocol, independent of socket.io. Each operation on an upload in
 * progress runs under the lock of its id; a stored file's records change under the file's lock
 * (stored-files.ts), taken inside an upload's lock when both are needed, never the other way.
 */
export class UploadService {
  readonly #deps: ServiceDeps;
  readonly #ledger = new UploadLedger();
  readonly #open: OpenUploads;
  readonly #stored: StoredFiles;
  readonly #creationLimits: CreationLimits;
  readonly #completions: Completions;
  readonly #sha256: Sha256Records;
  readonly #upkeep: Upkeep;
  #possession: Possession | undefined;
  /** When the last frame arrived (performance.now()). */
  #lastFrameAt = -Infinity;

  constructor(deps: ServiceDeps) {
    this.#deps = deps;
    const { uploads, files, bytes, locker, events, config } = deps;
    this.#creationLimits = new CreationLimits(this.#ledger, bytes, config);
    this.#stored = new StoredFiles({ files, bytes, locker, events, fsync: config.fsync });
    this.#open = new OpenUploads({
      uploads, bytes, ledger: this.#ledger,
      session: { uploads, bytes, events, fsync: config.fsync, verify: config.verify, digests: { sha256: config.sha256 === 'inline' } },
    });
    this.#sha256 = new Sha256Records({
      bytes,
      record: (md5, sha256) => this.#stored.recordSha256(md5, sha256),
      failed: (err, what) => events.failed?.(err, what),
      busy: () => performance.now() - this.#lastFrameAt < RECEIVING_MS,
    });
    this.#completions = new Completions({
      uploads, bytes, stored: this.#stored, ledger: this.#ledger, events, sha256: this.#sha256, hooks: deps.hooks,
      sha256InBackground: config.sha256 === 'background',
    });
    this.#upkeep = new Upkeep({
      uploads, files, bytes, locker, events, config, ledger: this.#ledger, open: this.#open, stored: this.#stored, completions: this.#completions,
      severalNodes: deps.severalNodes === true, perPrincipal: deps.perPrincipal === true,
    });
  }

  /**
   * Finishes what a crash interrupted, forgets file records whose bytes are gone, learns the
   * partial uploads, then starts the expiry sweeper.
   */
  async open(): Promise<void> {
    const secret = await this.#deps.uploads.secret?.('possession');
    this.#possession = new Possession(this.#deps.bytes, secret);
    await this.#upkeep.start();
  }

  /** Partial uploads known now (for /metrics and tests). */
  get partialUploads(): number {
    return this.#ledger.size;
  }

  async init(request: ParsedInit, caller: Caller = LOCAL): Promise<CompleteStatus | PartialStatus | ProveStatus> {
    const { md5, size } = request;
    checkFileSize(size, this.#deps.config.maxFileSize, this.#deps.bytes.capabilities);
    const id = this.#idOf(md5, caller);
    const stored = await this.#storedFor(request, id, caller, undefined);
    if (stored) return stored;
    // onUploadCreate runs before the lock is taken (a slow hook holds up no one else), and only
    // for an upload this principal does not have yet; what it answered is checked again inside.
    const existing = this.#open.get(id)?.meta ?? (await this.#deps.uploads.getUpload(id));
    const admitted = existing && existing.size === size ? undefined : await uploaderFor(this.#deps.hooks, request, caller.principal, false);
    return this.#locked(id, async (guard) => {
      const again = await this.#storedFor(request, id, caller, guard);
      if (again) return again;
      const session = await this.#open.load(id);
      if (session && session.meta.size === size) {
        if (this.#deps.severalNodes) await session.refresh();
        this.#ledger.seen(id);
        this.#deps.events.initialized('resumed', md5);
        return session.status();
      }
      if (session) {
        const verdict = this.#creationLimits.conflict(this.#ledger.get(id));
        if (verdict !== 'replace') throw verdict;
        await this.#open.forget(id, guard.fence);
        this.#deps.events.ended({ id, md5, reason: 'expired' });
      }
      const uploader = admitted ?? (await uploaderFor(this.#deps.hooks, request, caller.principal, false));
      const created = await this.#create(request, id, uploader, caller.address);
      this.#deps.events.initialized('new', md5);
      return created.status();
    });
  }

  /**
   * What init would refuse of an upload without its md5, answered before the client reads its file
   * (the token was checked at the handshake, the fields by parsePreflight): a size above the limit.
   * Not the disk space nor the caps on partial uploads: a resume needs neither, and which upload this
   * is takes the md5 to know. Nor onUploadCreate, whose event carries the md5.
   */
  preflight(request: ParsedPreflight): void {
    checkFileSize(request.size, this.#deps.config.maxFileSize, this.#deps.bytes.capabilities);
  }

  /**
   * The answer to an init of stored content: the file (one store for everyone, or the caller's own entry),
   * or a challenge to prove possession when only others stored it. Undefined when it is not stored
   * for the caller. A completed upload whose onUploadComplete failed runs the hook again first
   * (under the upload's lock: `guard` when the caller holds it already).
   */
  async #storedFor(request: ParsedInit, id: string, caller: Caller, guard: Guard | undefined): Promise<CompleteStatus | ProveStatus | undefined> {
    const { md5, size } = request;
    const view = await this.#stored.view(md5, this.#owner(caller), size);
    if (view === undefined) return undefined;
    if (view === 'others') return this.#proof.challenge(caller.principal.id, md5, size);
    if ((await this.#deps.uploads.getUpload(id))?.completed) {
      await (guard ? this.#notifyPending(id, guard) : this.#locked(id, (held) => this.#notifyPending(id, held)));
    }
    if (!this.#deps.perPrincipal && this.#deps.hooks?.onUploadCreate) await uploaderFor(this.#deps.hooks, request, caller.principal, true);
    this.#deps.events.initialized('instant', md5);
    return view;
  }

  /** An instant upload of content others stored, for a caller that answered the challenge: it gets its own entry. */
  async prove(request: ProveRequest & ParsedInit, caller: Caller): Promise<CompleteStatus> {
    const { md5, size } = request;
    const owner = caller.principal.id;
    // The challenge first: nothing about the stored file is looked up for a caller without one.
    this.#proof.check(owner, md5, size, request.challenge);
    const record = await this.#stored.record(md5, size);
    if (!record) throw new UpwireError('E_UNKNOWN_UPLOAD', `${md5} is not stored; send init again`);
    await this.#proof.verify(owner, md5, size, request.challenge, request.digest);
    const uploader = await uploaderFor(this.#deps.hooks, request, caller.principal, true);
    const entry = entryOf(uploader, md5, Date.now());
    if (!(await this.#stored.addEntry(entry))) throw new UpwireError('E_UNKNOWN_UPLOAD', `${md5} is not stored; send init again`);
    // The caller's own upload of this content, if it had begun one, is not needed any more.
    const id = this.#idOf(md5, caller);
    await this.#locked(id, (guard) => this.#open.forget(id, guard.fence));
    this.#deps.events.initialized('instant', md5);
    return { status: 'complete', file: entryInfo(entry, fileInfo(record)) };
  }

  /** Stores one frame of a chunk sent by connection `client` for `caller`. */
  async chunk({ md5, index, total, offset, data }: ParsedChunk, client = 'local', caller: Caller = LOCAL): Promise<ChunkAck> {
    this.#lastFrameAt = performance.now();
    const id = this.#idOf(md5, caller);
    // A session closed under the write (started over, unloaded) is opened again once.
    for (let attempt = 0; ; attempt++) {
      const session = this.#open.get(id) ?? (await this.#locked(id, () => this.#open.load(id)));
      if (!session) return this.#lateFrame(md5, caller, { index, offset, total });
      session.check(index, total, offset, data.length);
      let result: FrameResult;
      try {
        result = await session.frame(index, offset, data, client);
      } catch (err) {
        if (err instanceof SessionClosed && attempt === 0) continue;
        if (err instanceof UploadGone) return this.#gone(session, caller, { index, offset, total });
        throw err;
      }
      if (result.accepted) {
        this.#ledger.bytesArrived(id, result.stored ? session.receivedBytes : undefined);
        if (result.stored) this.#deps.events.chunkRecorded();
        this.#deps.events.progress(session.snapshot());
      }
      return { index, offset, ...result, next: session.next, received: session.receivedCount, total: session.meta.total };
    }
  }

  /**
   * A frame for an upload the caller has not (or no longer) in progress: harmless when the caller
   * may see the content stored (another connection finished it), else E_UNKNOWN_UPLOAD, and the
   * same for content only others stored: a frame must not tell whether anyone else has it.
   */
  async #lateFrame(md5: string, caller: Caller, { index, offset, total }: Pick<ParsedChunk, 'index' | 'offset' | 'total'>): Promise<ChunkAck> {
    const view = await this.#stored.view(md5, this.#owner(caller));
    if (view && view !== 'others') return { index, offset, accepted: false, stored: true, next: null, received: total, total };
    throw new UpwireError('E_UNKNOWN_UPLOAD', `no upload in progress for ${md5}; send init first`);
  }

  /**
   * Several nodes: another node merged, is merging, or forgot the upload this node's session was a
   * cache of. The session goes, and so does the temp file a late write may have made again; a late
   * frame of a stored file is answered as harmless, like one that reached a node that already knew,
   * and one that comes while another node merges is asked to wait (the next init says how it ended).
   */
  async #gone(session: UploadSession, caller: Caller, frame: Pick<ParsedChunk, 'index' | 'offset' | 'total'>): Promise<ChunkAck> {
    const { id, md5 } = session;
    const merging = await this.#locked(id, async () => {
      await this.#open.unload(session);
      const meta = await this.#deps.uploads.getUpload(id);
      if (!meta) await this.#deps.bytes.removePartial(id, session.meta.handle);
      return meta?.verified !== undefined || meta?.completed === true;
    });
    if (merging) throw new UpwireError('E_BUSY', `${md5} is being merged; send init again shortly`, { retryAfterMs: 1000 });
    return this.#lateFrame(md5, caller, frame);
  }

  /** A completed upload whose onUploadComplete failed: the hook runs again (and throws again if it fails again). */
  async #notifyPending(id: string, guard: Guard): Promise<void> {
    const pending = await this.#deps.uploads.getUpload(id);
    if (pending?.completed) await this.#completions.notify(pending, guard);
  }

  async merge(md5: string, caller: Caller = LOCAL): Promise<CompleteStatus> {
    const id = this.#idOf(md5, caller);
    return this.#locked(id, async (guard) => {
      await this.#notifyPending(id, guard);
      // Merged already (a retry): the caller's file. Content only others stored does not count:
      // the caller's own upload of it goes on, and its bytes, once verified, earn it an entry.
      const done = await this.#stored.view(md5, this.#owner(caller));
      if (done && done !== 'others') return done;
      const session = await this.#open.load(id);
      if (!session) throw new UpwireError('E_UNKNOWN_UPLOAD', `no upload in progress for ${md5}`);
      if (this.#deps.severalNodes) await session.refresh();
      // A merge verified and stored this upload, then lost its lock before it recorded it (another
      // node, or this one before a restart): only the records are left to write.
      const earlier = await this.#deps.uploads.getUpload(id);
      if (earlier?.verified && (await this.#deps.bytes.storedSize(md5)) === earlier.size) {
        await this.#open.unload(session);
        const { record, entry } = await this.#completions.finish(earlier, earlier.verified, guard);
        return this.#answer(record, entry);
      }
      // The state store is the authority on what is stored; the session is a cache of it.
      const recorded = session.complete ? (await this.#deps.uploads.receivedIndices(id)).length : session.receivedCount;
      if (!session.complete || recorded !== session.meta.total) {
        const { missing } = session.status();
        throw new UpwireError('E_INCOMPLETE', `${session.meta.total - Math.min(recorded, session.receivedCount)} chunks are missing`, { missing });
      }
      // With several nodes each merge verifies a sealed copy of its own, named by its lock's token;
      // so does one over a store that cannot read back (object storage), when the prefix hash does
      // not cover the upload (it came out of order, or before a restart).
      const sealed = this.#deps.severalNodes || !this.#deps.bytes.capabilities.readBack;
      const attempt = sealed ? guard.fence.token : undefined;
      const verifyStarted = performance.now();
      const verified = await session.verify({
        ...(attempt === undefined ? {} : { attempt, recorded: { tags: await this.#deps.uploads.chunkTags(id), ...(session.meta.handle ? { handle: session.meta.handle } : {}) } }),
        prefixFirst: !this.#deps.severalNodes,
        signal: guard.signal,
      });
      this.#deps.events.verified((performance.now() - verifyStarted) / 1000, verified !== undefined);
      // Nothing is written once the lock is lost: another holder may be merging this upload now.
      guard.signal.throwIfAborted();
      if (!verified) {
        await this.#open.startOver(session, guard.fence);
        this.#deps.events.ended({ id, md5, reason: 'failed', code: 'E_CHECKSUM' });
        throw new UpwireError('E_CHECKSUM', 'the assembled content does not hash to the md5; nothing was stored and the upload starts over');
      }
      await this.#open.unload(session);
      const meta: UploadMeta = { ...session.meta, verified: { at: Date.now(), ...(attempt === undefined ? {} : { attempt }) } };
      await this.#deps.uploads.putUpload(meta, guard.fence);
      const { record, entry } = await this.#completions.finish(meta, { ...verified, ...(attempt === undefined ? {} : { attempt }) }, guard);
      return this.#answer(record, entry);
    });
  }

  /** A merge's answer: the file, or (files per principal) the caller's own entry of it. */
  #answer(record: FileRecord, entry: FileEntry): CompleteStatus {
    const file = fileInfo(record);
    return { status: 'complete', file: this.#deps.perPrincipal ? entryInfo(entry, file) : file };
  }

  async status(md5: string, caller: Caller = LOCAL): Promise<CompleteStatus | PartialStatus | NoneStatus> {
    const view = await this.#stored.view(md5, this.#owner(caller));
    if (view && view !== 'others') return view;
    // Content only others stored is, to the caller, not stored: it learns of it through init, with a challenge.
    // Asking does not keep an upload alive: only an init or bytes do.
    const id = this.#idOf(md5, caller);
    const session = this.#open.get(id) ?? (await this.#locked(id, () => this.#open.load(id)));
    return session ? session.status() : { status: 'none' };
  }

  /** Forgets the caller's partial upload and deletes its temp data; a stored file is never touched. */
  abort(md5: string, caller: Caller = LOCAL): Promise<void> {
    const id = this.#idOf(md5, caller);
    return this.#locked(id, async (guard) => {
      if (await this.#open.forget(id, guard.fence)) this.#deps.events.ended({ id, md5, reason: 'aborted' });
    });
  }

  /**
   * Deletes the caller's stored file: its entry, and the content with the last entry (see
   * StoredFiles.remove). E_NOT_FOUND when the caller has none, exactly as for content nobody stored.
   */
  async delete(md5: string, caller: Caller = LOCAL): Promise<DeleteAnswer> {
    const removed = await this.#stored.remove(md5, this.#owner(caller));
    if (!removed) throw new UpwireError('E_NOT_FOUND', `no stored file with md5 ${md5}`);
    this.#deps.events.deleted?.({ md5, stored: removed.stored });
    await this.#deps.hooks?.onFileDeleted?.({ principal: caller.principal, file: removed.file, stored: removed.stored });
    return { md5 };
  }

  /** A download of md5 starts on this node: a delete meanwhile leaves its bytes until the answer (called once) says it ended. */
  holdStored(md5: string): () => void {
    return this.#stored.readers.hold(md5);
  }

  /** What watchers see: every upload open on this node, or those of one md5. */
  snapshot(md5?: string): UploadSnapshot[] {
    const sessions = this.#open.all();
    return (md5 === undefined ? sessions : sessions.filter((s) => s.md5 === md5)).map((s) => s.snapshot());
  }

  /**
   * Forgets partial uploads untouched for PARTIAL_TTL, and those that never received a byte after
   * EMPTY_TTL, and drops sessions idle for a while from memory (see upkeep.ts).
   */
  sweep(now = Date.now()): Promise<void> {
    return this.#upkeep.sweep(now);
  }

  /** Resolves once the SHA-256 of every file merged so far is recorded (SHA256=background). */
  sha256Recorded(): Promise<void> {
    return this.#sha256.idle();
  }

  /** Called when a download finds a record's bytes gone: the record is dropped. */
  async checkStored(md5: string): Promise<void> {
    const record = await this.#deps.files.getFile(md5);
    if (record) await this.#stored.intact(record);
  }

  /**
   * Stops the sweeper, lets in-flight writes finish and closes every temp file; a SHA-256 pass
   * under way is dropped. Waits for an upload's lock (a merge or a hook under way) at most
   * `timeoutMs`, then closes its session without it.
   */
  async close(timeoutMs = 30_000): Promise<void> {
    await this.#upkeep.stop();
    await this.#sha256.close();
    const deadline = AbortSignal.timeout(timeoutMs);
    await Promise.all(this.#open.all().map((session) =>
      withLock(this.#deps.locker, session.id, () => this.#open.unload(session), deadline).catch(() => this.#open.unload(session))));
  }

  /** The principal whose files the caller sees: its own where files belong to principals, else all (undefined). */
  #owner(caller: Caller): string | undefined {
    return this.#deps.perPrincipal ? caller.principal.id : undefined;
  }

  #idOf(md5: string, caller: Caller): string {
    return uploadId(md5, this.#owner(caller));
  }

  get #proof(): Possession {
    if (!this.#possession) throw new Error('UploadService: call open() first');
    return this.#possession;
  }

  /** Runs `task` holding the lock of upload `id`. */
  #locked<T>(id: string, task: (guard: Guard) => Promise<T>): Promise<T> {
    return withLock(this.#deps.locker, id, task);
  }

  async #create(request: ParsedInit, id: string, uploader: Uploader, address: string | undefined): Promise<UploadSession> {
    const { md5, size, name, type } = request;
    const { metadata } = uploader;
    const chunkSize = chooseChunkSize(request.chunkSize ?? this.#deps.config.chunkSize, size, this.#deps.bytes.capabilities);
    const now = Date.now();
    const meta: UploadMeta = {
      id, md5, size, chunkSize, total: chunkCount(size, chunkSize), name, type, createdAt: now, updatedAt: now, received: 0, uploader,
      ...(address === undefined ? {} : { createdBy: address }),
      ...(metadata === undefined ? {} : { metadata }),
    };
    this.#creationLimits.checkCaps(address);
    this.#ledger.add(meta); // counted before anything is awaited, so racing inits see it
    try {
      await this.#creationLimits.checkSpace(size);
      // What backs the bytes (an object store's multipart upload) is made before the record that names it.
      const handle = await this.#deps.bytes.begin?.(id, { size, chunkSize });
      if (handle !== undefined) meta.handle = handle;
      // No indices can exist without their meta (deleteUpload clears indices first), so a new upload starts empty.
      const session = await this.#open.create(meta).catch(async (err: unknown) => {
        if (handle !== undefined) await this.#deps.bytes.removePartial(id, handle).catch(() => {});
        throw err;
      });
      failpoint('after-init-state');
      return session;
    } catch (err) {
      this.#ledger.remove(id);
      throw err;
    }
  }
}

/** The client's wish clamped to what the byte store takes, and raised for huge files to cap the chunk count. */
export function chooseChunkSize(wish: number, size: number, { minPartSize, maxPartSize, maxParts }: ByteStoreCapabilities): number {
  const floor = Math.ceil(size / maxParts / minPartSize) * minPartSize;
  return Math.min(maxPartSize, Math.max(minPartSize, wish, floor));
}
