import {
  chunkCount, UpwireError,
  type ChunkAck, type CompleteStatus, type FileInfo, type NoneStatus, type ParsedChunk,
  type ParsedInit, type PartialStatus, type ProveRequest, type ProveStatus, type UploadSnapshot,
} from '../protocol/index.js';
import { SHARED, type Principal } from './access.js';
import { Admission } from './admission.js';
import { admitUploader, Completions, entryInfo, entryOf, fileInfo } from './completion.js';
import type { ServerConfig } from './config.js';
import type { ByteStore, ByteStoreCapabilities } from './bytes/types.js';
import { sha256OfStream, storedContent } from './digests.js';
import { failpoint } from './failpoints.js';
import type { UploadEvents } from './events.js';
import type { UpwireHooks } from './hooks.js';
import { UploadLedger } from './ledger.js';
import { withLock, type Locker } from './lock/types.js';
import { Possession } from './possession.js';
import { SessionClosed, UploadSession, type FrameResult, type SessionDeps } from './session.js';
import { Sha256Records } from './sha256-records.js';
import { UploadGone, type FileIndex, type FileRecord, type Uploader, type UploadMeta, type UploadStateStore } from './store/types.js';

export interface ServiceDeps {
  uploads: UploadStateStore;
  files: FileIndex;
  bytes: ByteStore;
  locker: Locker;
  events: UploadEvents;
  config: Pick<ServerConfig, 'chunkSize' | 'maxFileSize' | 'partialTtlMs' | 'emptyTtlMs' | 'fsync' | 'verify' | 'sha256' | 'maxUploads' | 'maxUploadsPerAddress'>;
  hooks?: Pick<UpwireHooks, 'onUploadCreate' | 'onUploadComplete'>;
  /**
   * Files belong to principals (an authorize hook names them): an instant upload of content that
   * only others stored asks for a proof of possession first. Otherwise the server is one shared store.
   */
  perPrincipal?: boolean;
  /**
   * The stores are shared with other nodes (Redis mode, files on shared storage): a session is a
   * cache refreshed from the store before it answers, the merge verifies a sealed copy read back
   * from the store (another node may hold a handle on the temp file), and one node at a time sweeps.
   */
  shared?: boolean;
}

/** Who asks: the principal, and the client's address (for the per-address cap). */
export interface Caller {
  principal: Principal;
  address?: string;
}

/** The caller of code that runs inside the server (tests, recovery): the shared principal. */
export const LOCAL: Caller = { principal: { id: SHARED, role: 'upload' } };

/** Principals that may take part in one partial upload of the same content at once. */
export const MAX_UPLOADERS = 16;

/** The lock the node that sweeps holds, in shared mode (not an md5: those are hex). */
const SWEEPER_KEY = 'sweeper';

/** Uploads count as receiving bytes (SHA-256 passes wait) until this long after the last frame. */
const RECEIVING_MS = 250;

/** An open session idle this long is forgotten from memory (its state stays in the store). */
const IDLE_UNLOAD_MS = 5 * 60_000;

/** The upload operations of the protocol, independent of socket.io. */
export class UploadService {
  readonly #deps: ServiceDeps;
  readonly #sessions = new Map<string, UploadSession>();
  readonly #ledger = new UploadLedger();
  readonly #admission: Admission;
  readonly #possession: Possession;
  readonly #completions: Completions;
  readonly #sha256: Sha256Records;
  /** When the last frame arrived (performance.now()). */
  #lastFrameAt = -Infinity;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(deps: ServiceDeps) {
    this.#deps = deps;
    this.#admission = new Admission(this.#ledger, deps.bytes, deps.config);
    this.#possession = new Possession(deps.bytes);
    this.#completions = new Completions({ ...deps, fsync: deps.config.fsync });
    this.#sha256 = new Sha256Records({
      bytes: deps.bytes,
      record: (md5, sha256) => this.#locked(md5, () => this.#recordSha256(md5, sha256)),
      failed: (err, what) => deps.events.failed?.(err, what),
      busy: () => performance.now() - this.#lastFrameAt < RECEIVING_MS,
    });
  }

  /**
   * Finishes what a crash interrupted, forgets file records whose bytes are gone, learns the
   * partial uploads, then starts the expiry sweeper.
   */
  async open(): Promise<void> {
    // In shared mode the other nodes' uploads are recovered in the background: a lease held by a
    // node that died blocks its upload for the lease's life, and must not delay this node's start.
    const recovery = this.#recoverAll();
    if (this.#deps.shared) void recovery.catch((err: unknown) => this.#deps.events.failed?.(err, 'recovery at start'));
    else await recovery;
    const { partialTtlMs, emptyTtlMs } = this.#deps.config;
    const every = Math.max(250, Math.min(partialTtlMs / 2, emptyTtlMs / 2, 60_000));
    this.#sweeper = setInterval(() => void this.sweep().catch(() => {}), every).unref();
  }

  async #recoverAll(): Promise<void> {
    for await (const meta of this.#deps.uploads.listUploads()) {
      // Under the lock: in shared mode another node may be merging or recovering the same upload.
      if (!(await this.#locked(meta.md5, () => this.#recover(meta)))) this.#ledger.add(meta);
    }
    for await (const record of this.#deps.files.listFiles()) await this.#storedIntact(record);
  }

  /** Partial uploads known now (for /metrics and tests). */
  get partialUploads(): number {
    return this.#ledger.size;
  }

  async init(request: ParsedInit, caller: Caller = LOCAL): Promise<CompleteStatus | PartialStatus | ProveStatus> {
    const { md5, size } = request;
    const { maxPartSize, maxParts } = this.#deps.bytes.capabilities;
    const maxFileSize = Math.min(this.#deps.config.maxFileSize, maxPartSize * maxParts);
    if (size > maxFileSize) throw new UpwireError('E_TOO_LARGE', `size ${size} is above the limit of ${maxFileSize} bytes`, { maxFileSize });
    const { events } = this.#deps;
    const stored = await this.#storedFor(md5, size, caller, request);
    if (stored) {
      // A stored file whose onUploadComplete failed: the hook runs again before anyone is told.
      if ((await this.#deps.uploads.getUpload(md5))?.completed) await this.#locked(md5, () => this.#notifyPending(md5));
      if (stored.status === 'complete') events.initialized('instant', md5);
      return stored;
    }
    return this.#locked(md5, async () => {
      const again = await this.#storedFor(md5, size, caller, request);
      if (again) {
        if (again.status === 'complete') events.initialized('instant', md5);
        return again;
      }
      const existing = await this.#load(md5);
      if (existing && existing.meta.size === size) {
        if (this.#deps.shared) await existing.refresh();
        await this.#join(existing.meta, request, caller);
        this.#ledger.seen(md5);
        events.initialized('resumed', md5);
        return existing.status();
      }
      if (existing) {
        const verdict = this.#admission.conflict(this.#ledger.get(md5));
        if (verdict !== 'replace') throw verdict;
        await this.#forget(md5);
        events.ended({ md5, reason: 'expired' });
      }
      const uploader = await admitUploader(this.#deps.hooks, request, caller.principal, false);
      const created = await this.#create(request, uploader, caller.address);
      events.initialized('new', md5);
      return created.status();
    });
  }

  /**
   * The answer to a stored file's init: the file itself (shared store, or the caller's own entry),
   * or a challenge to prove possession when only others stored it. Undefined when it is not stored.
   */
  async #storedFor(md5: string, size: number, caller: Caller, request: ParsedInit): Promise<CompleteStatus | ProveStatus | undefined> {
    const view = await this.#storedView(md5, caller, size);
    if (view === 'others') return this.#possession.challenge(caller.principal.id, md5, size);
    if (view && !this.#deps.perPrincipal && this.#deps.hooks?.onUploadCreate) await admitUploader(this.#deps.hooks, request, caller.principal, true);
    return view;
  }

  /** An instant upload of content others stored, for a caller that answered the challenge: it gets its own entry. */
  async prove(request: ProveRequest & ParsedInit, caller: Caller): Promise<CompleteStatus> {
    const { md5, size } = request;
    const stored = await this.#completed(md5, size);
    if (!stored) throw new UpwireError('E_UNKNOWN_UPLOAD', `${md5} is not stored; send init again`);
    await this.#possession.verify(caller.principal.id, md5, size, request.challenge, request.digest);
    const uploader = await admitUploader(this.#deps.hooks, request, caller.principal, true);
    const entry = entryOf(uploader, md5, Date.now());
    await this.#deps.files.putEntry(entry, this.#deps.config.fsync);
    this.#deps.events.initialized('instant', md5);
    return { status: 'complete', file: entryInfo(entry, stored.file) };
  }

  /** A principal not yet among a partial upload's uploaders joins it (call under the md5's lock). */
  async #join(meta: UploadMeta, request: ParsedInit, caller: Caller): Promise<void> {
    const uploaders = meta.uploaders ?? [];
    if (uploaders.some((u) => u.principal.id === caller.principal.id)) return;
    if (uploaders.length >= MAX_UPLOADERS) {
      throw new UpwireError('E_CONFLICT', `${MAX_UPLOADERS} principals are uploading this content already; retry when it is stored`, { retryAfterMs: 60_000 });
    }
    const uploader = await admitUploader(this.#deps.hooks, request, caller.principal, false);
    meta.uploaders = [...uploaders, uploader];
    await this.#deps.uploads.putUpload(meta);
  }

  /** Stores one frame of a chunk sent by connection `client`. */
  async chunk({ md5, index, total, offset, data }: ParsedChunk, client = 'local'): Promise<ChunkAck> {
    this.#lastFrameAt = performance.now();
    // A session closed under the write (started over, unloaded) is opened again once.
    for (let attempt = 0; ; attempt++) {
      const session = this.#sessions.get(md5) ?? (await this.#locked(md5, () => this.#load(md5)));
      if (!session) {
        // A late frame for a file that is complete now (another client finished it) is harmless.
        if (await this.#deps.files.getFile(md5)) return { index, offset, accepted: false, stored: true, next: null, received: total, total };
        throw new UpwireError('E_UNKNOWN_UPLOAD', `no upload in progress for ${md5}; send init first`);
      }
      session.check(index, total, offset, data.length);
      let result: FrameResult;
      try {
        result = await session.frame(index, offset, data, client);
      } catch (err) {
        if (err instanceof SessionClosed && attempt === 0) continue;
        if (err instanceof UploadGone) return this.#gone(session, { index, offset, total });
        throw err;
      }
      if (result.accepted) {
        this.#ledger.bytesArrived(md5, result.stored ? session.receivedBytes : undefined);
        if (result.stored) this.#deps.events.stored();
        this.#deps.events.progress(session.snapshot());
      }
      return { index, offset, ...result, next: session.next, received: session.receivedCount, total: session.meta.total };
    }
  }

  /**
   * Shared mode: another node merged or forgot the upload this node's session was a cache of. The
   * session goes, and so does the temp file a late write may have made again; a late frame of a
   * stored file is answered as harmless, like one that reached a node that already knew.
   */
  async #gone(session: UploadSession, { index, offset, total }: Pick<ParsedChunk, 'index' | 'offset' | 'total'>): Promise<ChunkAck> {
    const { md5 } = session;
    await this.#locked(md5, async () => {
      await this.#unload(session);
      if (!(await this.#deps.uploads.getUpload(md5))) await this.#deps.bytes.removePartial(md5);
    });
    if (await this.#deps.files.getFile(md5)) return { index, offset, accepted: false, stored: true, next: null, received: total, total };
    throw new UpwireError('E_UNKNOWN_UPLOAD', `no upload in progress for ${md5}; send init first`);
  }

  /**
   * A stored upload whose onUploadComplete failed: the hook runs again (it throws again to the
   * caller if it fails again). Call under the md5's lock.
   */
  async #notifyPending(md5: string): Promise<void> {
    const pending = await this.#deps.uploads.getUpload(md5);
    if (pending?.completed) await this.#notify(pending);
  }

  async merge(md5: string, caller: Caller = LOCAL): Promise<CompleteStatus> {
    return this.#locked(md5, async () => {
      await this.#notifyPending(md5);
      const done = await this.#completedFor(md5, caller);
      if (done) return done;
      const session = await this.#load(md5);
      if (!session) throw new UpwireError('E_UNKNOWN_UPLOAD', `no upload in progress for ${md5}`);
      if (this.#deps.shared) await session.refresh();
      // The state store is the authority on what is stored; the session is a cache of it.
      const recorded = session.complete ? (await this.#deps.uploads.receivedIndices(md5)).length : session.receivedCount;
      if (!session.complete || recorded !== session.meta.total) {
        const { missing } = session.status();
        throw new UpwireError('E_INCOMPLETE', `${session.meta.total - Math.min(recorded, session.receivedCount)} chunks are missing`, { missing });
      }
      const verifyStarted = performance.now();
      const verified = await session.verify({ sealed: this.#deps.shared === true });
      this.#deps.events.verified((performance.now() - verifyStarted) / 1000, verified !== undefined);
      if (!verified) {
        await this.#startOver(session);
        this.#deps.events.ended({ md5, reason: 'failed', code: 'E_CHECKSUM' });
        throw new UpwireError('E_CHECKSUM', 'the assembled content does not hash to the md5; nothing was stored and the upload starts over');
      }
      await session.close();
      this.#sessions.delete(md5);
      failpoint('before-rename');
      await this.#deps.bytes.commit(md5, this.#deps.config.fsync);
      failpoint('after-rename');
      const file = await this.#finalize(session.meta, verified.sha256);
      this.#deps.events.complete(file);
      // Per principal, the caller is one of the uploaders just recorded: its own entry answers.
      if (!this.#deps.perPrincipal) return { status: 'complete', file };
      return (await this.#completedFor(md5, caller)) ?? { status: 'complete', file };
    });
  }

  async status(md5: string, caller: Caller = LOCAL): Promise<CompleteStatus | PartialStatus | NoneStatus> {
    const view = await this.#storedView(md5, caller);
    // Stored, but not for this principal: it learns that through init, with a challenge.
    if (view === 'others') return { status: 'none' };
    if (view) return view;
    // Asking does not keep an upload alive: only an init or bytes do.
    const session = this.#sessions.get(md5) ?? (await this.#locked(md5, () => this.#load(md5)));
    return session ? session.status() : { status: 'none' };
  }

  /** Forgets a partial upload and deletes its temp data; a completed file is never touched. */
  abort(md5: string): Promise<void> {
    return this.#locked(md5, async () => {
      if (await this.#forget(md5)) this.#deps.events.ended({ md5, reason: 'aborted' });
    });
  }

  snapshot(md5?: string): UploadSnapshot[] {
    const sessions = md5 === undefined ? [...this.#sessions.values()] : [this.#sessions.get(md5)].filter((s) => s !== undefined);
    return sessions.map((s) => s.snapshot());
  }

  /**
   * Forgets partial uploads untouched for PARTIAL_TTL, and those that never received a byte after
   * EMPTY_TTL (an init costs a record; a new init of the same md5 does not renew this clock), and
   * drops sessions idle for a while from memory.
   */
  async sweep(now = Date.now()): Promise<void> {
    if (this.#deps.shared) await this.#sweepShared(now);
    else await this.#sweepLedger(now);
    for (const session of this.#sessions.values()) {
      if (!session.busy && now - session.lastActive > IDLE_UNLOAD_MS) {
        await this.#locked(session.md5, () => this.#unload(session));
      }
    }
  }

  async #sweepLedger(now: number): Promise<void> {
    const { partialTtlMs, emptyTtlMs } = this.#deps.config;
    for (const entry of [...this.#ledger.entries()]) {
      const session = this.#sessions.get(entry.md5);
      if (session?.busy) continue;
      const stale = now - Math.max(entry.lastSeen, session?.lastActive ?? 0) >= partialTtlMs;
      const empty = entry.received === 0 && now - Math.max(entry.createdAt, entry.lastBytes) >= emptyTtlMs;
      if (!stale && !empty) continue;
      await this.#expire(entry.md5);
    }
  }

  /**
   * Shared mode: the node that holds the sweeper's lease expires what the store lists, by the
   * store's clock of the last chunk (an init seen by another node does not renew it); the others skip.
   */
  async #sweepShared(now: number): Promise<void> {
    const lease = await this.#deps.locker.acquire(SWEEPER_KEY, AbortSignal.timeout(100)).catch(() => undefined);
    if (!lease) return;
    try {
      const { partialTtlMs, emptyTtlMs } = this.#deps.config;
      for await (const meta of this.#deps.uploads.listUploads()) {
        if (lease.signal.aborted) return;
        const session = this.#sessions.get(meta.md5);
        if (session?.busy || meta.completed) continue;
        const seen = Math.max(meta.updatedAt, this.#ledger.get(meta.md5)?.lastSeen ?? 0, session?.lastActive ?? 0);
        const empty = (meta.received ?? 0) === 0 && now - meta.createdAt >= emptyTtlMs;
        if (now - seen >= partialTtlMs || empty) await this.#expire(meta.md5);
      }
    } finally {
      await lease.release();
    }
  }

  async #expire(md5: string): Promise<void> {
    await this.#locked(md5, async () => {
      if (await this.#forget(md5)) this.#deps.events.ended({ md5, reason: 'expired' });
    });
  }

  /** Resolves once the SHA-256 of every file merged so far is recorded (SHA256=background). */
  sha256Recorded(): Promise<void> {
    return this.#sha256.idle();
  }

  /** Lets in-flight writes finish and closes every temp file; a SHA-256 pass under way is dropped. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#sha256.close();
    await Promise.all([...this.#sessions.values()].map((s) => this.#locked(s.md5, () => this.#unload(s))));
  }

  /** Runs `task` holding the md5's lock. */
  #locked<T>(md5: string, task: () => Promise<T>): Promise<T> {
    return withLock(this.#deps.locker, md5, task);
  }

  /**
   * The stored file as the caller sees it: in a shared store, the file; per principal, the caller's
   * own entry of it, or nothing (a merge of content the caller did not upload is refused).
   */
  async #completedFor(md5: string, caller: Caller): Promise<CompleteStatus | undefined> {
    const view = await this.#storedView(md5, caller);
    if (view === 'others') throw new UpwireError('E_FORBIDDEN', `${md5} is stored, but not by you: send init, which asks for a proof of possession`);
    return view;
  }

  /**
   * A stored file as `caller` sees it: the file in a shared store, or its own entry of it per
   * principal; 'others' when only other principals stored it; undefined when it is not stored.
   */
  async #storedView(md5: string, caller: Caller, size?: number): Promise<CompleteStatus | 'others' | undefined> {
    const stored = await this.#completed(md5, size);
    if (!stored || !this.#deps.perPrincipal) return stored;
    const entry = await this.#deps.files.getEntry(caller.principal.id, md5);
    return entry ? { status: 'complete', file: entryInfo(entry, stored.file) } : 'others';
  }

  /** The stored file's answer; a record whose bytes are gone is forgotten, and the md5 may be uploaded again. */
  async #completed(md5: string, size?: number): Promise<CompleteStatus | undefined> {
    const record = await this.#deps.files.getFile(md5);
    if (!record || !(await this.#storedIntact(record))) return undefined;
    if (size !== undefined && record.size !== size) throw sizeMismatch(md5, record.size);
    return { status: 'complete', file: fileInfo(record) };
  }

  /** True when the record's bytes are in the store at its size; otherwise the record is dropped. */
  async #storedIntact(record: FileRecord): Promise<boolean> {
    if ((await this.#deps.bytes.storedSize(record.md5)) === record.size) return true;
    await this.#deps.files.deleteFile(record.md5);
    this.#deps.events.lost?.(record);
    return false;
  }

  /** Called when a download finds a record's bytes gone: the record is dropped. */
  async checkStored(md5: string): Promise<void> {
    const record = await this.#deps.files.getFile(md5);
    if (record) await this.#storedIntact(record);
  }

  /** Call under the md5's lock. */
  async #load(md5: string): Promise<UploadSession | undefined> {
    const open = this.#sessions.get(md5);
    if (open) return open;
    const meta = await this.#deps.uploads.getUpload(md5);
    // A completed upload (its onUploadComplete still to succeed) takes no more bytes.
    if (!meta || meta.completed) return undefined;
    const session = await UploadSession.open(meta, this.#sessionDeps());
    this.#sessions.set(md5, session);
    return session;
  }

  async #create(request: ParsedInit, uploader: Uploader, address: string | undefined): Promise<UploadSession> {
    const { md5, size, name, type } = request;
    const { metadata } = uploader;
    const chunkSize = chooseChunkSize(request.chunkSize ?? this.#deps.config.chunkSize, size, this.#deps.bytes.capabilities);
    const now = Date.now();
    const meta: UploadMeta = {
      md5, size, chunkSize, total: chunkCount(size, chunkSize), name, type, createdAt: now, updatedAt: now, received: 0,
      ...(address === undefined ? {} : { createdBy: address }),
      ...(metadata === undefined ? {} : { metadata }),
      uploaders: [uploader],
    };
    this.#admission.checkCaps(address);
    this.#ledger.add(meta); // counted before anything is awaited, so racing inits see it
    try {
      await this.#admission.checkSpace(size);
      // No indices can exist without their meta (deleteUpload clears indices first), so a new upload starts empty.
      await this.#deps.uploads.putUpload(meta);
      failpoint('after-init-state');
      const session = await UploadSession.open(meta, this.#sessionDeps(), { fresh: true });
      this.#sessions.set(md5, session);
      return session;
    } catch (err) {
      this.#ledger.remove(md5);
      throw err;
    }
  }

  /**
   * The end of a verified, committed upload (see Completions): recorded, hooks told, forgotten.
   * With SHA256=background its SHA-256 is queued for the record.
   */
  async #finalize(meta: UploadMeta, sha256?: string): Promise<FileInfo> {
    const record = await this.#completions.record(meta, sha256);
    failpoint('before-complete-hook');
    await this.#notify({ ...meta, completed: true });
    if (sha256 === undefined && this.#deps.config.sha256 === 'background') this.#sha256.add(meta.md5, meta.size);
    return fileInfo(record);
  }

  /** Call under the md5's lock. A record deleted meanwhile (its bytes gone) is not written again. */
  async #recordSha256(md5: string, sha256: string): Promise<void> {
    const record = await this.#deps.files.getFile(md5);
    // Not synced: a record without it is complete, and a crash before the next sync loses only this.
    if (record && record.sha256 === undefined) await this.#deps.files.putFile({ ...record, sha256 }, false);
  }

  /** Call under the md5's lock. */
  async #notify(meta: UploadMeta): Promise<void> {
    await this.#completions.notify(meta);
    this.#ledger.remove(meta.md5);
  }

  /** Call under the md5's lock. True when there was a partial upload to forget. */
  async #forget(md5: string): Promise<boolean> {
    const session = this.#sessions.get(md5);
    if (session) await this.#unload(session);
    const known = session !== undefined || (await this.#deps.uploads.getUpload(md5)) !== undefined;
    await this.#deps.uploads.deleteUpload(md5);
    await this.#deps.bytes.removePartial(md5);
    this.#ledger.remove(md5);
    return known;
  }

  /**
   * After a failed verification: the upload stays, with no chunk. Indices go first (bytes without
   * an index are harmless, an index without its bytes is not), then the temp file, which the next
   * request opens afresh (the old one may have been deleted behind our back).
   */
  async #startOver(session: UploadSession): Promise<void> {
    await this.#unload(session);
    await this.#deps.uploads.clearChunks(session.md5);
    await this.#deps.bytes.removePartial(session.md5);
  }

  async #unload(session: UploadSession): Promise<void> {
    await session.close();
    if (this.#sessions.get(session.md5) === session) this.#sessions.delete(session.md5);
  }

  /**
   * A crash can stop a merge between its steps: rename done but record not written, or record
   * written but upload state not yet deleted. Both are finished here; only verified files are
   * ever renamed into the store, so a file found there is trusted. True when the upload is done.
   */
  async #recover(meta: UploadMeta): Promise<boolean> {
    const { files, bytes } = this.#deps;
    if (await files.getFile(meta.md5)) {
      // Stored: what may remain is writing the entries and telling the hook (again: at least once).
      await this.#completions.restoreEntries(meta);
      await this.#notify(meta);
      return true;
    }
    const size = await bytes.storedSize(meta.md5);
    if (size === undefined) return false;
    // Verified before the commit. With SHA256=inline its SHA-256 is computed again here, from the stored file.
    const sha256 = this.#deps.config.sha256 === 'inline'
      ? await sha256OfStream(storedContent(bytes, meta.md5, size))
      : undefined;
    await this.#finalize(meta, sha256);
    return true;
  }

  #sessionDeps(): SessionDeps {
    const { uploads, bytes, events, config } = this.#deps;
    return { uploads, bytes, events, fsync: config.fsync, verify: config.verify, digests: { sha256: config.sha256 === 'inline' } };
  }
}

function sizeMismatch(md5: string, size: number): UpwireError {
  return new UpwireError('E_SIZE_MISMATCH', `${md5} is already stored with size ${size}`, { size });
}

/** The client's wish clamped to what the byte store takes, and raised for huge files to cap the chunk count. */
export function chooseChunkSize(wish: number, size: number, { minPartSize, maxPartSize, maxParts }: ByteStoreCapabilities): number {
  const floor = Math.ceil(size / maxParts / minPartSize) * minPartSize;
  return Math.min(maxPartSize, Math.max(minPartSize, wish, floor));
}
